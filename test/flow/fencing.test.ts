import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import * as ledger from "../../src/ledger/ledger.js";
import { ledgerCounts, waitFor, waitingCount } from "../helpers/index.js";
import { eachDialect, gate, isTerminal, ManualClock, openLedger, waitForTask } from "./fixture.js";

eachDialect(() => {
  describe("fencing: a stale attempt cannot overwrite a newer outcome", () => {
    it("settleOutcomes with an old attempts number writes nothing", async () => {
      const flaky = defineTask({
        name: "flaky",
        retry: { max: 1, delay: 0 },
        async run(_: null, ctx) {
          if (ctx.attempt === 1) throw new Error("first fails");
          return "second wins";
        },
      });
      const { tl, file } = openLedger({ tasks: [flaky] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(flaky, null, { description: "two attempts", owner: "alice" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: false, attempts: 2, result: "second wins" });
      const before = await ledgerCounts(file);
      const now = Date.now();
      const stale = await ledger.settleOutcomes(
        runtimeOf(tl).db,
        [
          { kind: "success", id: task.id, attempts: 1, result: JSON.stringify("stale") },
          { kind: "failure", id: task.id, attempts: 1, log: "stale failure", retryAt: null },
          { kind: "canceled", id: task.id, attempts: 1, log: "stale cancel" },
          { kind: "failure", id: task.id, attempts: 1, log: "stale retry", retryAt: now },
        ],
        now,
      );
      expect(stale).toEqual({ value: [], notifications: [] });
      // Even the current attempts number is refused once the task is no longer running.
      const late = await ledger.settleOutcomes(
        runtimeOf(tl).db,
        [{ kind: "canceled", id: task.id, attempts: 2, log: "late" }],
        now,
      );
      expect(late.value).toEqual([]);
      const progress = await ledger.recordProgress(runtimeOf(tl).db, task.id, 1, 5, undefined, now);
      expect(progress.value).toBeNull();
      expect(await tl.tasks.get(task.id)).toEqual(done);
      expect(await ledgerCounts(file)).toEqual(before);
    });

    it("after an expired lease is swept and the task runs again, the first attempt's late outcome is ignored", async () => {
      const clock = new ManualClock();
      const firstEntered = gate<void>();
      const secondEntered = gate<void>();
      const releaseFirst = gate<void>();
      const releaseSecond = gate<void>();
      const firstDone = gate<void>();
      let firstSignal: AbortSignal | undefined;
      let secondSignal: AbortSignal | undefined;
      const stuck = defineTask({
        name: "stuck",
        timeout: 600_000,
        async run(_: null, ctx) {
          if (ctx.attempt === 1) {
            firstSignal = ctx.signal;
            firstEntered.open();
            await releaseFirst.promise;
            await ctx.setProgress(99).finally(() => firstDone.open());
            return "stale";
          }
          secondSignal = ctx.signal;
          secondEntered.open();
          await releaseSecond.promise;
          return "fresh";
        },
      });
      // Heartbeats and periodic sweeps never come within the test; the test sweeps by hand.
      const { tl, file } = openLedger({
        tasks: [stuck],
        clock,
        leaseMs: 60_000,
        heartbeatMs: 50_000,
        sweepIntervalMs: 60_000,
      });
      const worker = tl.createWorker({ concurrency: 2 });
      await worker.start();
      const task = await tl.tasks.enqueue(stuck, null, { description: "stuck", owner: "alice" });
      await firstEntered.promise;

      clock.advance(60_001);
      expect(await tl.sweep()).toMatchObject({ requeued: 1, failed: 0 });
      await secondEntered.promise;
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "running", attempts: 2 });
      expect((await tl.tasks.get(task.id))?.log).toMatch(/stopped responding during attempt 1; requeued/);
      // The same worker claimed it again: the stale attempt is told to stop and no longer counts.
      expect(firstSignal?.aborted).toBe(true);
      expect(String(firstSignal?.reason)).toMatch(/lease expired/);
      expect(worker.active).toBe(1);

      releaseFirst.open();
      await firstDone.promise;
      expect(worker.active).toBe(1);
      expect(await tl.tasks.get(task.id)).toMatchObject({
        status: "running",
        attempts: 2,
        progress: 0,
        result: null,
      });
      expect(await waitingCount(file)).toBe(1);

      // The current attempt is still reachable: a cancel now would reach it, and its outcome counts.
      releaseSecond.open();
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({
        status: "finished",
        failed: false,
        attempts: 2,
        result: "fresh",
        progress: 100,
      });
      expect(secondSignal?.aborted).toBe(false);
      const names = (await tl.notifications.after("alice", 0)).map((n) => [n.name, n.data.progress ?? null]);
      expect(names).toEqual([
        ["task_progress", 0],
        ["task_retry", null],
        ["task_progress", 0],
        ["task_progress", 100],
        ["task_finished", null],
      ]);
      await waitFor(() => worker.active === 0, { message: "no attempt left in flight" });
      expect(await waitingCount(file)).toBe(0);
    });

    it("a cancel reaches the new attempt while the stale one is still in the same worker", async () => {
      const clock = new ManualClock();
      const firstEntered = gate<void>();
      const secondEntered = gate<void>();
      const releaseFirst = gate<void>();
      const stuck = defineTask({
        name: "stuck",
        timeout: 600_000,
        async run(_: null, ctx) {
          if (ctx.attempt === 1) {
            firstEntered.open();
            await releaseFirst.promise;
            return "stale";
          }
          secondEntered.open();
          await new Promise((_resolve, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          );
        },
      });
      const { tl } = openLedger({
        tasks: [stuck],
        clock,
        leaseMs: 60_000,
        heartbeatMs: 50_000,
        sweepIntervalMs: 60_000,
      });
      const worker = tl.createWorker({ concurrency: 2 });
      await worker.start();
      const task = await tl.tasks.enqueue(stuck, null, { description: "stuck" });
      await firstEntered.promise;
      clock.advance(60_001);
      await tl.sweep();
      await secondEntered.promise;
      releaseFirst.open();
      expect(worker.active).toBe(1);
      expect((await tl.tasks.cancel(task.id)).ok).toBe(true);
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "canceled", attempts: 2 });
      // The log keeps what became of the first attempt above the second's end.
      expect(done.log).toMatch(
        /^Worker .* stopped responding during attempt 1; requeued .*\nCanceled while running$/,
      );
    });
  });
});
