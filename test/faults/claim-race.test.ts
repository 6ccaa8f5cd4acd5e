import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { inQueue, tempDatabase, waitFor } from "../helpers/index.js";
import { readExecutions, runsFile, startReadyWorkers, startsByTask } from "./processes.js";
import { countWhere, openLedger, readTasks, work } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

describe("worker processes racing for one queue", () => {
  it("claims each of 10 000 tasks exactly once across 4 processes", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    // This test is about claims, not lease expiry: four processes racing for the write lock on a
    // loaded machine can stall one for seconds, and a 1.5 s lease would then (rightly) re-run its
    // tasks. A lease longer than any stall keeps "exactly once" the thing measured.
    const workers = await startReadyWorkers(4, {
      database: url,
      runs,
      concurrency: 20,
      leaseMs: 20_000,
      heartbeatMs: 1_000,
      sweepMs: 1_000,
    });

    const count = 10_000;
    const items = Array.from({ length: count }, (_, i) => ({
      task: work,
      payload: { ms: 0 },
      options: { description: `race ${i}` },
    }));
    const enqueued = await tl.tasks.enqueueMany(items);
    expect(enqueued).toHaveLength(count);

    await waitFor(() => countWhere(file, "tasks where status = 'finished'") === count, {
      timeoutMs: 50_000,
      intervalMs: 100,
      message: `${count} tasks to finish`,
    });

    const tasks = readTasks(file);
    expect(tasks).toHaveLength(count);
    expect(tasks.filter((t) => t.status !== "finished" || t.failed !== 0 || t.attempts !== 1)).toEqual([]);
    expect(inQueue(file)).toBe(0);

    const executions = readExecutions(runs).filter((e) => e.event === "start");
    expect(executions).toHaveLength(count);
    const starts = startsByTask(executions);
    expect(starts.size).toBe(count);
    expect([...starts.values()].filter((list) => list.length !== 1)).toEqual([]);
    expect(new Set(starts.keys())).toEqual(new Set(enqueued.map((t) => t.id)));

    // Every result names the one process that ran the task.
    for (const task of tasks) {
      expect(JSON.parse(task.result!)).toEqual({ pid: starts.get(task.id)![0]!.pid, attempt: 1 });
    }
    // It was a race: the work was shared between processes, and only these four ran any.
    const pids = new Set(executions.map((e) => e.pid));
    const workerPids = new Set(workers.map((w) => w.pid));
    expect([...pids].every((pid) => workerPids.has(pid))).toBe(true);
    expect(pids.size).toBeGreaterThan(1);
  });
});
