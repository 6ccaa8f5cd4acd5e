import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import { readExecutions, runsFile, startReadyWorkers } from "./processes.js";
import { block, crunch, openLedger } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

const LEASE = { leaseMs: 1_000, heartbeatMs: 200, sweepMs: 200 };

describe("a CPU-bound handler that runs for twice its worker's lease, with two workers", () => {
  it('with isolation: "thread", runs once on a thread while its worker keeps its lease, and finishes', async () => {
    const { url, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    const [first, second] = await startReadyWorkers(2, { database: url, runs, concurrency: 1, ...LEASE });
    const task = await tl.tasks.enqueue(crunch, { ms: 2 * LEASE.leaseMs }, { description: "crunch numbers" });
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      message: "the task to finish",
    });
    const done = (await tl.tasks.get(task.id))!;
    expect(done).toMatchObject({ status: "finished", failed: false, attempts: 1 });
    const result = done.result as { pid: number; thread: number };
    expect([first!.pid, second!.pid]).toContain(result.pid);
    expect(result.thread).toBeGreaterThan(0); // not the process's main thread
    expect(readExecutions(runs).filter((e) => e.event === "start")).toHaveLength(1);
  });

  it("without isolation, loses its lease to the other worker, and the log says why and what to do", async () => {
    const { url, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    const workers = await startReadyWorkers(2, { database: url, runs, concurrency: 1, ...LEASE });
    const task = await tl.tasks.enqueue(block, { ms: 2 * LEASE.leaseMs }, { description: "blocks its loop" });
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      timeoutMs: 30_000,
      message: "the task to end",
    });
    const done = (await tl.tasks.get(task.id))!;
    expect(done).toMatchObject({ status: "finished", failed: true, attempts: 2 });
    expect(done.log).toMatch(/stopped responding during attempt 2 and no attempts are left/);
    expect(done.log).toContain(
      "a handler blocked its event loop — run CPU-bound handlers with isolation: 'thread'",
    );
    await waitFor(
      () => workers.some((w) => /heartbeat ran \d+ ms late .*isolation: "thread"/.test(w.stderr())),
      {
        message: "a worker to say its heartbeat was late",
      },
    );
  });
});
