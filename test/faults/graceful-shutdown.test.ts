import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import { readExecutions, runsFile, startReadyWorkers, untilEvent, untilStarted } from "./processes.js";
import { countWhere, gated, openLedger } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

describe("a worker process stopped with SIGTERM", () => {
  it("stops claiming, lets its running tasks finish, and exits 0", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    const gate = join(dir, "gate");
    tl = openLedger(url);
    await tl.migrate();
    const [proc] = await startReadyWorkers(1, { database: url, runs, concurrency: 2, graceMs: 30_000 });

    const tasks = await tl.tasks.enqueueMany(
      Array.from({ length: 4 }, (_, i) => ({
        task: gated,
        payload: { gate },
        options: { description: `gated ${i}` },
      })),
    );
    const [first, second, ...waiting] = tasks.map((t) => t.id);
    for (const id of [first!, second!]) await untilStarted(runs, id);

    proc!.child.kill("SIGTERM");
    await untilEvent(proc!, "stopping");
    // A task enqueued now wakes the worker, which must not take it.
    const late = await tl.tasks.enqueue(gated, { gate }, { description: "enqueued during shutdown" });
    // Its running tasks hold the shutdown until they finish.
    expect(proc!.child.exitCode).toBeNull();
    writeFileSync(gate, "");
    expect(await proc!.exit).toBe(0);

    for (const id of [first!, second!]) {
      const task = await tl.tasks.get(id);
      expect(task).toMatchObject({
        status: "finished",
        failed: false,
        attempts: 1,
        result: { pid: proc!.pid, attempt: 1 },
      });
    }
    for (const id of [...waiting, late.id]) {
      expect(await tl.tasks.get(id)).toMatchObject({ status: "queued", attempts: 0 });
    }
    const executions = readExecutions(runs);
    expect(
      executions
        .filter((e) => e.event === "start")
        .map((e) => e.id)
        .sort(),
    ).toEqual([first, second].sort());
    expect(executions.filter((e) => e.event === "abort")).toEqual([]);
    // It left the workers list and holds no claim.
    expect(countWhere(file, "workers")).toBe(0);
    expect(countWhere(file, "tasks where status = 'running'")).toBe(0);
  });

  it("aborts and requeues a task that outlives the grace period; another worker finishes it", async () => {
    const { url, dir } = tempDatabase();
    const runs = runsFile(dir);
    const gate = join(dir, "gate");
    tl = openLedger(url);
    await tl.migrate();
    const [first] = await startReadyWorkers(1, { database: url, runs, concurrency: 1, graceMs: 300 });

    const task = await tl.tasks.enqueue(gated, { gate }, { description: "outlives the grace" });
    await untilStarted(runs, task.id);

    first!.child.kill("SIGTERM");
    expect(await first!.exit).toBe(0);

    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "queued",
      failed: false,
      // The interrupted attempt is given back: it does not count against the task's attempts.
      attempts: 0,
      log: "Interrupted by worker shutdown during attempt 1; requeued without spending the attempt",
    });
    expect(readExecutions(runs).filter((e) => e.event !== "start")).toEqual([
      { event: "abort", id: task.id, attempt: 1, pid: first!.pid, reason: "worker shutting down" },
    ]);

    writeFileSync(gate, "");
    const [second] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      timeoutMs: 30_000,
      message: "the requeued task to finish",
    });
    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "finished",
      failed: false,
      attempts: 1,
      result: { pid: second!.pid, attempt: 1 },
    });
    expect(
      readExecutions(runs)
        .filter((e) => e.event === "start")
        .map((e) => [e.pid, e.attempt]),
    ).toEqual([
      [first!.pid, 1],
      [second!.pid, 1],
    ]);
  });
});
