import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { inQueue, tempDatabase, waitFor } from "../helpers/index.js";
import { readExecutions, runsFile, startReadyWorkers, startsByTask } from "./processes.js";
import { countWhere, gated, openLedger, readTasks, work } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

describe("a worker process killed with SIGKILL while it runs tasks", () => {
  it("loses no task, leaves none running, and re-runs only the tasks the dead worker held", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    const concurrency = 4;
    const [victim, ...survivors] = await startReadyWorkers(3, { database: url, runs, concurrency });

    const items = Array.from({ length: 200 }, (_, i) => ({
      task: work,
      payload: { ms: 20 + ((i * 7) % 31) },
      options: { description: `fault task ${i}` },
    }));
    expect(await tl.tasks.enqueueMany(items)).toHaveLength(200);

    // Kill it mid-run: it has started several tasks and many are still queued.
    await waitFor(
      () => readExecutions(runs).filter((e) => e.event === "start" && e.pid === victim!.pid).length >= 5,
      {
        timeoutMs: 30_000,
        message: "the victim to start 5 tasks",
      },
    );
    victim!.child.kill("SIGKILL");
    expect(await victim!.exit).toBe("SIGKILL");

    await waitFor(() => countWhere(file, "tasks where status = 'finished'") === 200, {
      timeoutMs: 45_000,
      message: "all 200 tasks to finish",
    });

    const tasks = readTasks(file);
    expect(tasks).toHaveLength(200);
    expect(tasks.filter((t) => t.status !== "finished" || t.failed !== 0)).toEqual([]);
    expect(countWhere(file, "tasks where status = 'running'")).toBe(0);
    expect(inQueue(file)).toBe(0);

    const starts = startsByTask(readExecutions(runs));
    const victimLog = `Worker ${victim!.workerId} stopped responding during attempt`;
    const rerun: number[] = [];
    for (const task of tasks) {
      const executions = (starts.get(task.id) ?? []).sort((a, b) => a.attempt - b.attempt);
      const attempts = executions.map((e) => e.attempt);
      // Every execution is one attempt of the ledger, none run twice, the last one recorded. (An
      // attempt the victim started in the ledger but died before its handler began left no trace.)
      expect(new Set(attempts).size).toBe(attempts.length);
      expect(attempts.at(-1)).toBe(task.attempts);
      const last = executions.at(-1)!;
      // The recorded result is the last execution's.
      expect(JSON.parse(task.result!)).toEqual({ pid: last.pid, attempt: last.attempt });
      if (task.attempts > 1) {
        rerun.push(task.id);
        // Only the killed worker's executions were repeated, and it never completed them.
        expect(executions.slice(0, -1).every((e) => e.pid === victim!.pid)).toBe(true);
        expect(last.pid).not.toBe(victim!.pid);
        expect(task.log).toContain(victimLog);
      } else {
        // A task that finished is never run again.
        expect(task.log).toBeNull();
      }
    }
    // The victim held at most `concurrency` tasks when it died, and it held some.
    expect(rerun.length).toBeGreaterThan(0);
    expect(rerun.length).toBeLessThanOrEqual(concurrency);
    expect(rerun.every((id) => tasks.find((t) => t.id === id)!.attempts === 2)).toBe(true);
    // The survivors finished what the victim left.
    const survivorPids = new Set(survivors.map((s) => s.pid));
    expect(
      rerun.every((id) => survivorPids.has(JSON.parse(tasks.find((t) => t.id === id)!.result!).pid)),
    ).toBe(true);
  });

  it("fails, rather than re-runs, a task whose attempts are spent", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    const workers = await startReadyWorkers(2, { database: url, runs, concurrency: 1 });

    const task = await tl.tasks.enqueue(
      gated,
      { gate: join(dir, "never") },
      { description: "one attempt only", owner: "carol", retry: 0 },
    );
    const started = await waitFor(() => readExecutions(runs).find((e) => e.event === "start"), {
      timeoutMs: 30_000,
      message: "the task to start",
    });
    const victim = workers.find((w) => w.pid === started.pid)!;
    victim.child.kill("SIGKILL");
    expect(await victim.exit).toBe("SIGKILL");

    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      timeoutMs: 30_000,
      message: "the dead worker's task to be failed",
    });
    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "finished",
      failed: true,
      attempts: 1,
      maxAttempts: 1,
      log: `Failed for: worker ${victim.workerId} stopped responding during attempt 1 and no attempts are left (its lease lapsed: the process died or was paused, or a handler blocked its event loop — run CPU-bound handlers with isolation: 'thread')`,
    });
    expect(readExecutions(runs).filter((e) => e.event === "start")).toHaveLength(1);
    const feed = await tl.notifications.after("carol", 0);
    expect(feed.filter((n) => n.name === "task_failed").map((n) => n.taskId)).toEqual([task.id]);
    expect(inQueue(file)).toBe(0);
  });
});
