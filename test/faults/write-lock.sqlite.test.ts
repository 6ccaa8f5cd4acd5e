import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { gate, isTerminal, openLedger, waitForTask } from "../flow/fixture.js";

/**
 * Another connection — a separate process with its own better-sqlite3 handle on the same file —
 * holds the write lock (BEGIN IMMEDIATE) for 2 s. It prints when it took the lock and, just
 * before COMMIT, when it lets go: writers in this process must wait for it, not fail with SQLITE_BUSY.
 */
const HOLDER = `
const Database = require("better-sqlite3");
const db = new Database(process.argv[1]);
db.exec("BEGIN IMMEDIATE");
console.log(JSON.stringify({ locked: Date.now() }));
setTimeout(() => {
  console.log(JSON.stringify({ releasing: Date.now() }));
  db.exec("COMMIT");
  db.close();
}, 2000);
`;

interface LockHolder {
  readonly lockedAt: Promise<number>;
  readonly releasingAt: Promise<number>;
  readonly exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill();
});

function holdWriteLock(file: string): LockHolder {
  const child = spawn(process.execPath, ["-e", HOLDER, file], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const locked = gate<number>();
  const releasing = gate<number>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const message = JSON.parse(line) as { locked?: number; releasing?: number };
    if (message.locked !== undefined) locked.open(message.locked);
    if (message.releasing !== undefined) releasing.open(message.releasing);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { lockedAt: locked.promise, releasingAt: releasing.promise, exited };
}

describe("another connection holds the write lock", () => {
  it("enqueue waits for it and succeeds", async () => {
    const job = defineTask({ name: "job", run: async (n: number) => n * 2 });
    const { tl, file } = openLedger({ tasks: [job] });
    await tl.migrate();
    const holder = holdWriteLock(file);
    await holder.lockedAt;

    const task = await tl.tasks.enqueue(job, 21, { description: "during a lock" });
    const returnedAt = Date.now();
    expect(task.status).toBe("queued");
    expect(await holder.exited).toBe(0);
    // It returned only after the other connection let go.
    expect(returnedAt).toBeGreaterThanOrEqual(await holder.releasingAt);

    await tl.createWorker().start();
    expect(await waitForTask(tl, task.id, isTerminal)).toMatchObject({
      status: "finished",
      failed: false,
      result: 42,
    });
  });

  it("a worker's claim that falls due during the lock waits for it and succeeds", async () => {
    const failedOnce = gate<void>();
    const job = defineTask({
      name: "job",
      retry: { max: 1, delay: 1_000 },
      async run(_: null, ctx) {
        if (ctx.attempt === 1) {
          setImmediate(() => failedOnce.open());
          throw new Error("first attempt fails");
        }
        return "claimed after the lock";
      },
    });
    const { tl, file } = openLedger({ tasks: [job], leaseMs: 60_000, sweepIntervalMs: 60_000 });
    const worker = tl.createWorker();
    await worker.start();
    const task = await tl.tasks.enqueue(job, null, {
      description: "retry falls due during a lock",
      owner: "alice",
    });
    await failedOnce.promise;
    const waiting = await waitForTask(tl, task.id, (t) => t.status === "queued" && t.attempts === 1);
    const retryAt = Date.parse(
      String((await tl.notifications.after("alice", 0)).find((n) => n.name === "task_retry")?.data.retryAt),
    );
    expect(waiting.log).toContain("first attempt fails");

    const holder = holdWriteLock(file);
    const lockedAt = await holder.lockedAt;
    const done = await waitForTask(tl, task.id, isTerminal);
    const releasingAt = await holder.releasingAt;
    // The retry fell due while the other connection held the lock.
    expect(lockedAt).toBeLessThan(retryAt);
    expect(retryAt).toBeLessThan(releasingAt);
    expect(await holder.exited).toBe(0);
    expect(done).toMatchObject({
      status: "finished",
      failed: false,
      attempts: 2,
      result: "claimed after the lock",
    });
  });
});
