import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { inQueue, tempDatabase, waitFor } from "../helpers/index.js";
import {
  freezeOutsideWriteLock,
  readExecutions,
  runsFile,
  startReadyWorkers,
  untilStarted,
} from "./processes.js";
import { gated, openLedger } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

async function untilStatus(
  ledger: Taskledger,
  id: number,
  check: (t: { status: string; attempts: number }) => boolean,
  message: string,
) {
  await waitFor(
    async () => {
      const task = await ledger.tasks.get(id);
      return task !== undefined && check(task);
    },
    { timeoutMs: 30_000, message },
  );
}

// Freezing a process and seeing it frozen take SIGSTOP and /proc.
describe.skipIf(process.platform !== "linux")(
  "a worker process that hangs (SIGSTOP) while it holds a task",
  () => {
    it("cannot overwrite the outcome of the attempt that replaced it once it wakes up", async () => {
      const { url, file, dir } = tempDatabase();
      const runs = runsFile(dir);
      const gate = join(dir, "gate");
      tl = openLedger(url);
      await tl.migrate();
      const [hung] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
      const task = await tl.tasks.enqueue(
        gated,
        { gate },
        { description: "outlives its worker's lease", owner: "bob" },
      );
      await untilStarted(runs, task.id);

      await freezeOutsideWriteLock(hung!, file);
      const [rescuer] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
      await untilStatus(
        tl,
        task.id,
        (t) => t.status === "running" && t.attempts === 2,
        "a second attempt after the lease ran out",
      );
      writeFileSync(gate, "");
      await untilStatus(tl, task.id, (t) => t.status === "finished", "the second attempt to finish");

      // The hung worker wakes; its handler's attempt 1 ends — it completes, or is aborted once the
      // worker finds its lease lost — and whatever it settles on the way out is stale.
      hung!.child.kill("SIGCONT");
      await waitFor(() => readExecutions(runs).some((e) => e.event !== "start" && e.pid === hung!.pid), {
        timeoutMs: 30_000,
        message: "the stale attempt to end",
      });
      hung!.child.kill("SIGTERM");
      expect(await hung!.exit).toBe(0);

      expect(await tl.tasks.get(task.id)).toMatchObject({
        status: "finished",
        failed: false,
        attempts: 2,
        result: { pid: rescuer!.pid, attempt: 2 },
      });
      expect((await tl.tasks.get(task.id))!.log).toContain(
        `Worker ${hung!.workerId} stopped responding during attempt 1`,
      );
      const feed = await tl.notifications.after("bob", 0);
      expect(feed.filter((n) => n.name === "task_finished").map((n) => n.taskId)).toEqual([task.id]);
      expect(inQueue(file)).toBe(0);
    });

    it("ends canceled, not re-run, when it was canceled while its worker hung and then died", async () => {
      const { url, file, dir } = tempDatabase();
      const runs = runsFile(dir);
      tl = openLedger(url);
      await tl.migrate();
      const [hung] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
      const task = await tl.tasks.enqueue(
        gated,
        { gate: join(dir, "never") },
        { description: "canceled while hung" },
      );
      await untilStarted(runs, task.id);

      await freezeOutsideWriteLock(hung!, file);
      expect(await tl.tasks.cancel(task.id)).toMatchObject({ ok: true });
      hung!.child.kill("SIGKILL");
      expect(await hung!.exit).toBe("SIGKILL");

      await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
      await untilStatus(
        tl,
        task.id,
        (t) => t.attempts > 1 || (t.status !== "running" && t.status !== "queued"),
        "the dead worker's task to be recovered",
      );
      expect(await tl.tasks.get(task.id)).toMatchObject({
        status: "canceled",
        failed: true,
        attempts: 1,
        log: `Canceled; worker ${hung!.workerId} stopped responding during attempt 1 (its lease lapsed: the process died or was paused, or a handler blocked its event loop — run CPU-bound handlers with isolation: 'thread')`,
      });
      expect(readExecutions(runs).filter((e) => e.event === "start")).toHaveLength(1);
      expect(inQueue(file)).toBe(0);
    });
  },
);
