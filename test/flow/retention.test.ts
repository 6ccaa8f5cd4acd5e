import { afterEach, describe, expect, it, vi } from "vitest";
import { defineTask, TaskledgerError } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import type { Db } from "../../src/ledger/ledger.js";
import { createPruner, prune } from "../../src/maintenance/prune.js";
import type { Runtime } from "../../src/runtime.js";
import { ledgerCounts, rawColumn, rawRows, waitFor } from "../helpers/index.js";
import { MINUTE, runRows, schedulerOf } from "../scheduler/fixture.js";
import { eachDialect, gate, isTerminal, ManualClock, openLedger, waitForTask } from "./fixture.js";

/**
 * Retention: ended tasks and notifications older than the age limit go, in short transactions;
 * what waits or runs stays whatever its age; each schedule keeps its newest runs.
 */
const DAY = 86_400_000;
/** "idle" is a queue no worker here takes from: what is sent there waits. */
const queues = ["high", "default", "idle"];

const job = defineTask({ name: "job", retry: 0, run: (n: number) => n });
const boom = defineTask({
  name: "boom",
  retry: 0,
  run: () => {
    throw new Error("boom");
  },
});

/** Read through a separate connection: what is on disk. */
async function query<T = number>(file: string, sql: string, ...params: unknown[]): Promise<T[]> {
  return rawColumn<T>(file, sql, ...params);
}

const ids = (file: string) => query(file, "select id from tasks order by id");
const notesOf = (file: string, taskIds: readonly number[]) =>
  query(file, `select id from notifications where task_id in (${taskIds.join(",") || "null"}) order by id`);

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

eachDialect(() => {
  describe("pruning by age", () => {
    it("removes ended tasks older than the limit with their notifications; young ones and those waiting or running stay, whatever their age", async () => {
      const clock = new ManualClock();
      const release = gate();
      const held = defineTask({ name: "held", run: () => release.promise.then(() => "done") });
      const { tl, file } = openLedger({ tasks: [job, boom, held], clock, queues, retention: false });
      const worker = tl.createWorker({ queues: ["default"] });
      await worker.start();
      const old = { description: "old", owner: "alice" };
      const oldFinished = await tl.tasks.enqueue(job, 1, old);
      const oldFailed = await tl.tasks.enqueue(boom, 0, old);
      const oldCanceled = await tl.tasks.enqueue(job, 2, { ...old, queue: "idle" });
      await tl.tasks.cancel(oldCanceled.id);
      const oldQueued = await tl.tasks.enqueue(job, 3, { ...old, queue: "idle" });
      const oldReserved = await tl.tasks.reserve(clock.now() + 40 * DAY, job, 4, old);
      const oldRunning = await tl.tasks.enqueue(held, 0, old);
      await waitForTask(tl, oldFinished.id, isTerminal);
      expect(await waitForTask(tl, oldFailed.id, isTerminal)).toMatchObject({ failed: true });
      await waitForTask(tl, oldRunning.id, (t) => t.status === "running");

      clock.advance(31 * DAY);
      const young = { description: "young", owner: "alice" };
      const youngFinished = await tl.tasks.enqueue(job, 5, young);
      const youngCanceled = await tl.tasks.enqueue(job, 6, { ...young, queue: "idle" });
      await tl.tasks.cancel(youngCanceled.id);
      await waitForTask(tl, youngFinished.id, isTerminal);

      const removed = [oldFinished.id, oldFailed.id, oldCanceled.id];
      const kept = [oldQueued.id, oldReserved.id, oldRunning.id, youngFinished.id, youngCanceled.id];
      const cutoff = clock.now() - 30 * DAY;
      const notesBefore = (await query(file, "select count(*) from notifications"))[0]!;
      const youngNotes = await notesOf(file, [youngFinished.id, youngCanceled.id]);
      expect((await notesOf(file, removed)).length).toBeGreaterThan(0);

      const report = await tl.prune();

      expect(report).toMatchObject({ tasks: 3, scheduleRuns: 0 });
      expect(await ids(file)).toEqual([...kept].sort((a, b) => a - b));
      expect(await notesOf(file, removed)).toEqual([]);
      // Notifications older than the limit go whatever their task (the reservation's, the running one's start).
      expect(await query(file, "select count(*) from notifications where created_at < ?", cutoff)).toEqual([
        0,
      ]);
      expect(await notesOf(file, [youngFinished.id, youngCanceled.id])).toEqual(youngNotes);
      expect(report.notifications).toBe(
        notesBefore - (await query(file, "select count(*) from notifications"))[0]!,
      );

      // Still running when pruned, it finishes and is recorded as ever.
      release.open();
      expect(await waitForTask(tl, oldRunning.id, isTerminal)).toMatchObject({
        status: "finished",
        result: "done",
      });
      await worker.stop();
    });

    it("a dry run counts what would go and removes nothing; the real pass then removes exactly that", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [job], clock });
      for (let i = 0; i < 5; i++) {
        const task = await tl.tasks.enqueue(job, i, { description: "old", owner: "bob" });
        await tl.tasks.cancel(task.id);
      }
      clock.advance(31 * DAY);
      const young = await tl.tasks.enqueue(job, 9, { description: "young", owner: "bob" });
      await tl.tasks.cancel(young.id);
      const before = await ledgerCounts(file);

      const dry = await tl.prune({ dryRun: true });

      expect(dry).toEqual({ tasks: 5, notifications: 10, scheduleRuns: 0 });
      expect(await ledgerCounts(file)).toEqual(before);
      expect(await tl.prune()).toEqual(dry);
      expect(await ids(file)).toEqual([young.id]);
      expect(await tl.prune({ dryRun: true })).toEqual({ tasks: 0, notifications: 0, scheduleRuns: 0 });
    });

    it("prune() takes its age from retention.maxAgeMs; olderThan overrides it", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [job], clock, retention: { maxAgeMs: 3 * DAY } });
      const ended: number[] = [];
      for (let day = 0; day < 3; day++) {
        const task = await tl.tasks.enqueue(job, day, { description: `day ${day}` });
        await tl.tasks.cancel(task.id);
        ended.push(task.id);
        clock.advance(2 * DAY);
      }
      // Now day 6: the tasks ended 6, 4 and 2 days ago.
      expect(await tl.prune()).toMatchObject({ tasks: 2 });
      expect(await ids(file)).toEqual([ended[2]]);
      expect(await tl.prune({ olderThan: DAY })).toMatchObject({ tasks: 1 });
      expect(await ids(file)).toEqual([]);
    });

    it("removes in batches, each its own transaction, and lets other writers in between them", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [job], clock, queues, retention: false });
      const worker = tl.createWorker({ queues: ["default"], concurrency: 50 });
      await worker.start();
      const created = await tl.tasks.enqueueMany(
        Array.from({ length: 2_000 }, (_, i) => ({ task: job, payload: i, options: { description: "old" } })),
      );
      await waitFor(
        async () => (await query(file, "select count(*) from tasks where status = 'finished'"))[0] === 2_000,
        {
          message: "2,000 tasks finished",
          timeoutMs: 30_000,
        },
      );
      await worker.stop();
      clock.advance(31 * DAY);

      // Each committed batch is seen from a second connection; one writer comes in during the pass.
      const left: number[] = [];
      const firstCommit = gate();
      const counted: Runtime = {
        ...runtimeOf(tl),
        async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
          const result = await runtimeOf(tl).transaction(fn);
          left.push((await query(file, "select count(*) from tasks"))[0]!);
          firstCommit.open();
          return result;
        },
      };
      let passDone = false;
      const pass = prune(counted, { olderThanMs: 30 * DAY, batchSize: 250 }).then((report) => {
        passDone = true;
        return report;
      });
      await firstCommit.promise;
      const during = await tl.tasks.enqueue(job, -1, {
        description: "enqueued during the pass",
        queue: "idle",
      });
      expect(passDone).toBe(false);

      expect(await pass).toEqual({ tasks: 2_000, notifications: 6_000, scheduleRuns: 0 });
      expect(left.length).toBeGreaterThanOrEqual(2_000 / 250 + 6_000 / 250);
      // Seen after each commit: the old tasks go at most a batch at a time (the task enqueued meanwhile stays).
      expect(left[0]).toBe(2_000 - 250);
      expect(Math.max(...left.slice(1).map((n, i) => left[i]! - n))).toBeLessThanOrEqual(250);
      expect(await ids(file)).toEqual([during.id]);
      expect(created).toHaveLength(2_000);
    });
  });

  describe("schedule runs", () => {
    it("keeps each schedule's newest runs: older ended ones go with their notifications, oldest first; waiting or running ones stay", async () => {
      const clock = new ManualClock();
      let calls = 0;
      const release = gate();
      // The first run holds until released; later ones end at once.
      const feed = defineTask({
        name: "feed",
        retry: 0,
        run: async () => {
          if (++calls === 1) await release.promise;
          return calls;
        },
      });
      const { tl, file } = openLedger({ tasks: [feed, job], clock, queues, retention: { scheduleRuns: 3 } });
      const schedule = async (key: string, spec: Record<string, unknown>) =>
        (
          await tl.schedules.schedule({
            key,
            task: job,
            payload: 1,
            description: key,
            every: MINUTE,
            ...spec,
          })
        ).id;
      const feedId = await schedule("feed", { task: feed, payload: undefined, overlap: "allow" });
      // Its runs wait in a queue no worker takes from: every later slot is recorded as skipped (canceled).
      const skipsId = await schedule("skips", { queue: "idle" });
      const fewId = await schedule("few", { every: 10 * MINUTE });
      const worker = tl.createWorker({ queues: ["default"], concurrency: 5 });
      await worker.start();
      const scheduler = schedulerOf(tl);
      for (let slot = 0; slot < 6; slot++) {
        const { fired } = await scheduler.tick();
        const run = fired.find((r) => r.scheduleId === feedId)!;
        await waitForTask(tl, run.taskId, slot === 0 ? (t) => t.status === "running" : isTerminal);
        clock.advance(MINUTE);
      }
      await waitFor(async () => (await runRows(file, fewId))[0]?.status === "finished", {
        message: "the few run finished",
      });
      const feedRuns = await runRows(file, feedId);
      const skipsRuns = await runRows(file, skipsId);
      expect(feedRuns.map((r) => r.status)).toEqual(["running", ...Array(5).fill("finished")]);
      expect(skipsRuns.map((r) => r.status)).toEqual(["queued", ...Array(5).fill("canceled")]);
      expect(await runRows(file, fewId)).toHaveLength(1);

      const removed = [feedRuns[1]!.id, feedRuns[2]!.id, skipsRuns[1]!.id, skipsRuns[2]!.id];
      const kept = (await runRows(file)).map((r) => r.id).filter((id) => !removed.includes(id));
      const keptNotes = await notesOf(file, kept);
      const removedNotes = await notesOf(file, removed);
      expect(removedNotes.length).toBeGreaterThan(0);

      const report = await prune(runtimeOf(tl), { olderThanMs: 30 * DAY, batchSize: 10 });

      expect(report).toEqual({ tasks: 0, notifications: removedNotes.length, scheduleRuns: 4 });
      expect((await runRows(file, feedId)).map((r) => r.id)).toEqual([
        feedRuns[0]!.id,
        ...feedRuns.slice(3).map((r) => r.id),
      ]);
      expect((await runRows(file, skipsId)).map((r) => r.id)).toEqual([
        skipsRuns[0]!.id,
        ...skipsRuns.slice(3).map((r) => r.id),
      ]);
      expect(await runRows(file, fewId)).toHaveLength(1);
      expect(await notesOf(file, removed)).toEqual([]);
      expect(await notesOf(file, kept)).toEqual(keptNotes);

      release.open();
      await waitForTask(tl, feedRuns[0]!.id, isTerminal);
      await worker.stop();
    });
  });

  describe("the worker's pruner", () => {
    it("a worker prunes by itself every retention.intervalMs", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [job], clock, retention: { maxAgeMs: DAY, intervalMs: 20 } });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.enqueue(job, 1, { description: "soon old" });
      await waitForTask(tl, task.id, isTerminal);
      expect((await notesOf(file, [task.id])).length).toBeGreaterThan(0);

      clock.advance(2 * DAY);
      // The pass removes the task, then (a batch later) its notifications.
      await waitFor(
        async () =>
          (await tl.tasks.get(task.id)) === undefined && (await notesOf(file, [task.id])).length === 0,
        {
          message: "the old task and its notifications pruned",
        },
      );
      await worker.stop();
    });

    it("logs a failing pass once per distinct message, and again after a pass succeeded", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [job], clock, retention: { intervalMs: 10 } });
      await tl.migrate();
      let passes = 0;
      // Each pass reads the time once: its count of calls is the count of passes.
      const counting = {
        now() {
          passes++;
          return clock.now();
        },
      };
      const rt: Runtime = { ...runtimeOf(tl), clock: counting };
      const logged: string[] = [];
      const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => {
        logged.push(String(line));
      });
      restore = () => spy.mockRestore();
      const rename = (from: string, to: string) => rawRows(file, `alter table ${from} rename to ${to}`);
      const pruner = createPruner(rt);
      try {
        await rename("notifications", "notifications_away");
        await pruner.start();
        await waitFor(() => passes >= 5, { message: "five failing passes" });
        // The database's own words (SQLite: no such table; PostgreSQL: relation … does not exist; MySQL: … doesn't exist).
        expect(logged).toHaveLength(1);
        expect(logged[0]).toMatch(/^taskledger pruner: .*notifications/);

        await rename("notifications_away", "notifications");
        const before = passes;
        await waitFor(() => passes >= before + 3, { message: "passes that succeed" });
        await rename("notifications", "notifications_away");
        await waitFor(() => logged.length === 2, { message: "the failure logged again" });
        const after = passes;
        await waitFor(() => passes >= after + 3, { message: "more failing passes" });
        expect(logged).toHaveLength(2);
      } finally {
        await pruner.stop();
        await rename("notifications_away", "notifications");
      }
    });
  });

  describe("retention settings", () => {
    it("refuses bad values, naming the field", async () => {
      const bad: [unknown, string][] = [
        [{ maxAgeMs: 0 }, "retention.maxAgeMs"],
        [{ maxAgeMs: "30d" }, "retention.maxAgeMs"],
        [{ scheduleRuns: -1 }, "retention.scheduleRuns"],
        [{ scheduleRuns: 1.5 }, "retention.scheduleRuns"],
        [{ intervalMs: 0 }, "retention.intervalMs"],
        [{ maxAge: 1_000 }, "retention.maxAge"],
        [true, "retention"],
        [null, "retention"],
      ];
      for (const [retention, field] of bad) {
        let error: unknown;
        try {
          openLedger({ tasks: [job], retention: retention as never });
        } catch (e) {
          error = e;
        }
        expect(error, JSON.stringify(retention)).toBeInstanceOf(TaskledgerError);
        expect(error).toMatchObject({ code: "invalid_input", field });
      }
      const { tl } = openLedger({ tasks: [job] });
      expect(tl.settings.retention).toEqual({ maxAgeMs: 30 * DAY, scheduleRuns: 100, intervalMs: 3_600_000 });
      await expect(tl.prune({ olderThan: -1 })).rejects.toMatchObject({ field: "olderThan" });
      expect(openLedger({ tasks: [job], retention: false }).tl.settings.retention).toBe(false);
      expect(
        openLedger({ tasks: [job], retention: { maxAgeMs: undefined, scheduleRuns: 0 } }).tl.settings
          .retention,
      ).toEqual({ maxAgeMs: 30 * DAY, scheduleRuns: 0, intervalMs: 3_600_000 });
    });
  });
});
