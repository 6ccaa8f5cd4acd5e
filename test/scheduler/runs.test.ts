import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { startAttempts } from "../../src/ledger/ledger.js";
import { eachDialect, gate, isTerminal, ManualClock, openLedger, waitForTask } from "../flow/fixture.js";
import { ledgerCounts, waitFor, waitingCount } from "../helpers/index.js";
import { MINUTE, noop, runRows, schedulerOf } from "./fixture.js";

/**
 * Runs are ordinary tasks run by the normal worker; their outcome reaches the schedule (a failed
 * run marks it `failed`, a later success sets it back to `running`). Pause, resume, remove
 * (cascade) and cancel of a running run.
 */
let failNext = true;
const flaky = defineTask({
  name: "flaky",
  retry: 0,
  run: () => {
    if (failNext) throw new Error("the feed was unreachable");
    return { items: 3 };
  },
});

eachDialect(() => {
  describe("runs and their schedule", () => {
    it("a failing run marks the schedule failed; the next success restores running", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks: [flaky], clock });
      await tl.schedules.schedule({ key: "f", task: flaky, description: "flaky", every: MINUTE });
      const worker = tl.createWorker({ concurrency: 2 });
      await worker.start();
      const scheduler = schedulerOf(tl);

      failNext = true;
      const first = (await scheduler.tick()).fired[0]!;
      const failed = await waitForTask(tl, first.taskId, isTerminal);
      expect(failed).toMatchObject({ status: "finished", failed: true, scheduleId: first.scheduleId });
      expect(failed.log).toContain("the feed was unreachable");
      await waitFor(async () => (await tl.schedules.get("f"))?.status === "failed", {
        message: "schedule failed",
      });

      failNext = false;
      clock.advance(MINUTE);
      const second = (await scheduler.tick()).fired[0]!;
      expect((await waitForTask(tl, second.taskId, isTerminal)).result).toEqual({ items: 3 });
      await waitFor(async () => (await tl.schedules.get("f"))?.status === "running", {
        message: "schedule running again",
      });
      expect((await tl.schedules.get("f"))?.runCount).toBe(2);
      expect((await tl.schedules.runs("f")).map((t) => t.id)).toEqual([second.taskId, first.taskId]);
      await worker.stop();
    });

    it("a run that fails because its worker died (attempts spent) marks the schedule failed too", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [noop], clock, leaseMs: 1_000, heartbeatMs: 300 });
      await tl.schedules.schedule({ key: "w", task: noop, description: "w", every: MINUTE });
      const { taskId } = (await schedulerOf(tl).tick()).fired[0]!;
      // A worker claims the run and vanishes: its lease expires on the fake clock.
      const rt = runtimeOf(tl);
      const claims = await rt.transaction(async (tx) => {
        const taken = await rt.engine.take(
          { worker: "gone", queues: ["default"], limit: 1, now: clock.now() },
          tx,
        );
        await startAttempts(tx, taken, clock.now(), { worker: "gone", leaseUntil: clock.now() + 1_000 });
        return taken;
      });
      expect(claims.map((c) => c.id)).toEqual([taskId]);
      clock.advance(2_000);
      expect(await tl.sweep()).toMatchObject({ failed: 1 });
      expect((await tl.schedules.get("w"))?.status).toBe("failed");
      expect((await runRows(file))[0]).toMatchObject({ status: "finished", failed: 1 });
    });

    it("a running run can be canceled like any task; the schedule keeps firing", async () => {
      const clock = new ManualClock();
      const entered = gate();
      const hold = defineTask({
        name: "hold",
        retry: 0,
        async run(_payload: null, ctx) {
          entered.open();
          await new Promise((_resolve, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          );
        },
      });
      const { tl } = openLedger({ tasks: [hold], clock });
      await tl.schedules.cron({ key: "h", task: hold, description: "long", cron: "* * * * *" });
      const worker = tl.createWorker();
      await worker.start();
      const { taskId } = (await schedulerOf(tl).tick()).fired[0]!;
      await entered.promise;
      expect((await tl.tasks.cancel(taskId)).ok).toBe(true);
      const canceled = await waitForTask(tl, taskId, isTerminal);
      expect(canceled).toMatchObject({ status: "canceled", failed: true });
      // A canceled run is not a failure of the schedule.
      expect((await tl.schedules.get("h"))?.status).toBe("running");
      await worker.stop();
    });

    it("pause stops firing; resume fires from the next slot, without catching up the paused ones", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 10, 0, 0));
      const { tl, file } = openLedger({ tasks: [noop], clock });
      await tl.schedules.cron({
        key: "p",
        task: noop,
        description: "p",
        cron: "* * * * *",
        overlap: "allow",
      });
      const scheduler = schedulerOf(tl);
      await scheduler.tick();
      const paused = await tl.schedules.pause("p");
      expect(paused.pausedAt?.getTime()).toBe(clock.now());
      for (let i = 0; i < 5; i++) {
        clock.advance(MINUTE);
        expect((await scheduler.tick()).fired).toEqual([]);
      }
      clock.advance(20_000); // 10:05:20
      const resumed = await tl.schedules.resume("p");
      expect(resumed).toMatchObject({ pausedAt: null, nextRunAt: new Date(Date.UTC(2030, 0, 1, 10, 6)) });
      expect((await scheduler.tick()).fired).toEqual([]);
      clock.advance(40_000);
      expect((await scheduler.tick()).fired).toHaveLength(1);
      expect((await runRows(file)).map((r) => new Date(r.slot_at).toISOString())).toEqual([
        "2030-01-01T10:00:00.000Z",
        "2030-01-01T10:06:00.000Z",
      ]);
    });

    it("removing a schedule deletes its runs and their queue entries", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [noop], clock });
      const kept = await tl.schedules.cron({
        key: "kept",
        task: noop,
        description: "kept",
        cron: "* * * * *",
        overlap: "allow",
      });
      const gone = await tl.schedules.cron({
        key: "gone",
        task: noop,
        description: "gone",
        cron: "* * * * *",
        overlap: "allow",
      });
      const scheduler = schedulerOf(tl);
      for (let i = 0; i < 3; i++, clock.advance(MINUTE)) await scheduler.tick();
      await tl.tasks.enqueue(noop, null, { description: "not a run" });
      expect(await ledgerCounts(file)).toMatchObject({ scheduled_tasks: 2, tasks: 7 });
      expect(await waitingCount(file)).toBe(7);

      expect(await tl.schedules.remove("gone")).toMatchObject({
        schedule: { id: gone.id, key: "gone" },
        runs: 3,
      });
      expect(await ledgerCounts(file)).toMatchObject({ scheduled_tasks: 1, tasks: 4 });
      expect(await waitingCount(file)).toBe(4);
      expect(await runRows(file, gone.id)).toEqual([]);
      expect(await runRows(file, kept.id)).toHaveLength(3);
      expect(await tl.schedules.get("gone")).toBeUndefined();
      await expect(tl.schedules.remove("gone")).rejects.toMatchObject({ code: "not_found", field: "key" });
    });

    it("a real worker with the scheduler fires on a real clock: every 1 s, 3 times", async () => {
      const { tl } = openLedger({ tasks: [noop], heartbeatMs: 200, leaseMs: 1_000 });
      const worker = tl.createWorker({ withScheduler: true });
      await worker.start();
      const schedule = await tl.schedules.schedule({
        key: "real",
        task: noop,
        description: "real",
        every: 1_000,
        repeat: 3,
      });
      await waitFor(
        async () => {
          const runs = await tl.schedules.runs("real");
          return runs.length === 3 && runs.every((r) => r.status === "finished" && !r.failed);
        },
        { message: "three finished runs" },
      );
      const runs = await tl.schedules.runs("real");
      expect(
        runs.map((r) => r.slotAt!.getTime() - schedule.startAt!.getTime()).sort((a, b) => a - b),
      ).toEqual([0, 1_000, 2_000]);
      expect(await tl.schedules.get("real")).toMatchObject({ runCount: 3, nextRunAt: null });
      expect((await tl.status()).scheduler).toMatchObject({ running: true });
      await worker.stop();
      expect((await tl.status()).scheduler).toMatchObject({ running: false, holder: null });
    });
  });
});
