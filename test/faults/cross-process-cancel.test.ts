import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { inQueue, tempDatabase, waitFor } from "../helpers/index.js";
import { readExecutions, runsFile, startReadyWorkers, untilStarted } from "./processes.js";
import { gated, openLedger, work } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

describe("cancel from another process", () => {
  it("fires the signal of a task running in a worker process, which ends canceled", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    const [proc] = await startReadyWorkers(1, { database: url, runs, concurrency: 2 });

    // Its gate never opens: only the abort signal ends it.
    const task = await tl.tasks.enqueue(
      gated,
      { gate: join(dir, "never") },
      { description: "waits for cancel", owner: "alice" },
    );
    await untilStarted(runs, task.id);

    const canceled = await tl.tasks.cancel(task.id, { owner: "alice" });
    expect(canceled).toMatchObject({ ok: true, task: { id: task.id, status: "running" } });
    expect(canceled.ok && canceled.task.cancelRequestedAt).toBeInstanceOf(Date);

    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "canceled", {
      timeoutMs: 30_000,
      message: "the task to end canceled",
    });
    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "canceled",
      failed: true,
      attempts: 1,
      progress: 100,
      result: null,
      log: "Canceled while running",
    });
    // The signal fired in the worker process, with the cancel as its reason.
    expect(readExecutions(runs).filter((e) => e.event !== "start")).toEqual([
      { event: "abort", id: task.id, attempt: 1, pid: proc!.pid, reason: "canceled" },
    ]);
    expect(inQueue(file)).toBe(0);
    const feed = await tl.notifications.after("alice", 0);
    expect(feed.filter((n) => n.name === "task_canceled").map((n) => n.taskId)).toEqual([task.id]);

    // The worker carries on with other work.
    const next = await tl.tasks.enqueue(work, { ms: 1 }, { description: "after the cancel" });
    await waitFor(async () => (await tl!.tasks.get(next.id))?.status === "finished", {
      timeoutMs: 30_000,
      message: "the next task to finish",
    });
    expect(await tl.tasks.get(next.id)).toMatchObject({
      failed: false,
      result: { pid: proc!.pid, attempt: 1 },
    });
  });

  it("refuses to cancel a task another worker process already finished", async () => {
    const { url, dir } = tempDatabase();
    const runs = runsFile(dir);
    tl = openLedger(url);
    await tl.migrate();
    await startReadyWorkers(1, { database: url, runs, concurrency: 1 });

    const task = await tl.tasks.enqueue(work, { ms: 1 }, { description: "done before the cancel" });
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      timeoutMs: 30_000,
      message: "the task to finish",
    });
    const refused = await tl.tasks.cancel(task.id);
    expect(refused).toMatchObject({ ok: false, task: { status: "finished", failed: false } });
    expect(!refused.ok && refused.reason).toContain("already finished");
    expect(await tl.tasks.get(task.id)).toMatchObject({ status: "finished", failed: false, log: null });
  });
});
