import { describe, expect, it } from "vitest";
import { defineTask, TaskledgerError } from "../../src/index.js";
import { ledgerCounts, waitingCount } from "../helpers/index.js";
import { eachDialect, gate, isTerminal, ManualClock, openLedger, waitForTask } from "./fixture.js";

eachDialect(() => {
  describe("cancel", () => {
    it("cancels a queued task at once; it never runs", async () => {
      const runs: number[] = [];
      const job = defineTask({ name: "job", run: async (_: null, ctx) => void runs.push(ctx.id) });
      const { tl, file } = openLedger({ tasks: [job] });
      const task = await tl.tasks.enqueue(job, null, { description: "to cancel", owner: "alice" });
      const result = await tl.tasks.cancel(task.id);
      expect(result.ok).toBe(true);
      expect(result.task).toMatchObject({ id: task.id, status: "canceled", failed: true, progress: 100 });
      expect(result.task!.log).toMatch(/Canceled before it started/);
      expect(await waitingCount(file)).toBe(0);
      expect((await tl.notifications.after("alice", 0)).map((n) => n.name)).toEqual([
        "task_progress",
        "task_canceled",
      ]);

      const marker = await tl.tasks.enqueue(job, null, { description: "runs after" });
      await tl.createWorker().start();
      await waitForTask(tl, marker.id, isTerminal);
      expect(runs).toEqual([marker.id]);
      expect((await tl.tasks.get(task.id))?.status).toBe("canceled");
    });

    it("cancels a reservation at once; it never runs, even when due", async () => {
      const clock = new ManualClock();
      const runs: number[] = [];
      const job = defineTask({ name: "job", run: async (_: null, ctx) => void runs.push(ctx.id) });
      const { tl, file } = openLedger({ tasks: [job], clock });
      const reserved = await tl.tasks.reserve(clock.now() + 60_000, job, null, {
        description: "later",
        owner: "alice",
      });
      const result = await tl.tasks.cancelReservation(reserved.id, { owner: "alice" });
      expect(result).toMatchObject({
        ok: true,
        task: { status: "canceled", failed: true, progress: 100, log: "Reservation canceled" },
      });
      expect(await waitingCount(file)).toBe(0);
      clock.advance(61_000);
      expect(await tl.sweep()).toMatchObject({ promoted: 0 });
      const marker = await tl.tasks.enqueue(job, null, { description: "marker" });
      await tl.createWorker().start();
      await waitForTask(tl, marker.id, isTerminal);
      expect(runs).toEqual([marker.id]);
      expect(await tl.tasks.reserved("alice")).toEqual([]);
    });

    it("fires a running task's signal; the task ends canceled", async () => {
      const entered = gate<void>();
      let reason: unknown;
      const job = defineTask({
        name: "cooperative",
        timeout: 30_000,
        run: (_: null, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener("abort", () => {
              reason = ctx.signal.reason;
              reject(ctx.signal.reason);
            });
            entered.open();
          }),
      });
      const { tl } = openLedger({ tasks: [job] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(job, null, { description: "long", owner: "bob" });
      await entered.promise;
      const result = await tl.tasks.cancel(task.id, { owner: "bob" });
      expect(result).toMatchObject({ ok: true, task: { status: "running" } });
      expect(result.task!.cancelRequestedAt).toBeInstanceOf(Date);
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({
        status: "canceled",
        failed: true,
        progress: 100,
        log: "Canceled while running",
      });
      expect((reason as Error).name).toBe("AbortError");
      const names = (await tl.notifications.after("bob", 0)).map((n) => n.name);
      expect(names).toEqual(["task_progress", "task_progress", "task_canceled"]);
    });

    it("a handler that returns normally after its cancel still ends canceled", async () => {
      const entered = gate<void>();
      const job = defineTask({
        name: "returns_anyway",
        run: (_: null, ctx) =>
          new Promise((resolve) => {
            ctx.signal.addEventListener("abort", () => resolve("finished anyway"));
            entered.open();
          }),
      });
      const { tl } = openLedger({ tasks: [job] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(job, null, { description: "x" });
      await entered.promise;
      await tl.tasks.cancel(task.id);
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "canceled", failed: true, result: null });
    });

    it("stops a handler that ignores the signal at its timeout; it ends canceled, never finished ok", async () => {
      const entered = gate<void>();
      const release = gate<void>();
      let aborted = false;
      const stubborn = defineTask({
        name: "stubborn",
        timeout: 300,
        retry: { max: 2, delay: 0 },
        async run(_: null, ctx) {
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
          });
          entered.open();
          await release.promise;
          return "late success";
        },
      });
      const { tl } = openLedger({ tasks: [stubborn] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(stubborn, null, { description: "ignores cancel" });
      await entered.promise;
      expect((await tl.tasks.cancel(task.id)).ok).toBe(true);
      const done = await waitForTask(tl, task.id, isTerminal);
      release.open();
      expect(aborted).toBe(true);
      expect(done).toMatchObject({ status: "canceled", failed: true, result: null, attempts: 1 });
      expect(done.log).toMatch(/ignored its abort signal.*300 ms timeout/);
      // The late return changes nothing.
      await new Promise((resolve) => setImmediate(resolve));
      expect(await tl.tasks.get(task.id)).toEqual(done);
    });

    it("refuses finished and canceled tasks with a reason", async () => {
      const ok = defineTask({ name: "ok", run: async () => 1 });
      const bad = defineTask({ name: "bad", retry: 0, run: async () => Promise.reject(new Error("x")) });
      // "parked": a declared queue no worker takes, so the cancel below cannot race a claim.
      const { tl } = openLedger({ tasks: [ok, bad], queues: ["high", "default", "parked"] });
      await tl.createWorker({ queues: ["high", "default"] }).start();
      const finished = await tl.tasks.enqueue(ok, null, { description: "ok" });
      const failed = await tl.tasks.enqueue(bad, null, { description: "bad" });
      await waitForTask(tl, finished.id, isTerminal);
      await waitForTask(tl, failed.id, isTerminal);
      const canceled = await tl.tasks.enqueue(ok, null, { description: "c", queue: "parked" });
      expect((await tl.tasks.cancel(canceled.id)).ok).toBe(true);

      const a = await tl.tasks.cancel(finished.id);
      expect(a).toMatchObject({ ok: false, task: { id: finished.id, status: "finished" } });
      expect(a.ok === false && a.reason).toMatch(/already finished; it cannot be canceled/);
      const b = await tl.tasks.cancel(failed.id);
      expect(b.ok === false && b.reason).toMatch(/already finished \(failed\)/);
      const c = await tl.tasks.cancel(canceled.id);
      expect(c).toMatchObject({ ok: false, task: { status: "canceled" } });
      expect(c.ok === false && c.reason).toMatch(/already canceled/);
      const d = await tl.tasks.cancelReservation(canceled.id);
      expect(d.ok === false && d.reason).toMatch(/already canceled/);
      expect(await tl.tasks.get(finished.id)).toMatchObject({ status: "finished", failed: false });
    });

    it("cancelReservation refuses a task that is not reserved", async () => {
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl } = openLedger({ tasks: [job] });
      const queued = await tl.tasks.enqueue(job, null, { description: "queued" });
      const result = await tl.tasks.cancelReservation(queued.id);
      expect(result).toMatchObject({ ok: false, task: { status: "queued" } });
      expect(result.ok === false && result.reason).toMatch(/is queued; only reserved tasks/);
      expect((await tl.tasks.get(queued.id))?.status).toBe("queued");
    });

    it("throws not_found naming `id` for an unknown id, and for another owner's task", async () => {
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl, file } = openLedger({ tasks: [job] });
      const mine = await tl.tasks.enqueue(job, null, { description: "alice's", owner: "alice" });
      const before = await ledgerCounts(file);
      for (const attempt of [
        () => tl.tasks.cancel(9_999),
        () => tl.tasks.cancel(mine.id, { owner: "mallory" }),
        () => tl.tasks.cancel(mine.id, { owner: null }),
        () => tl.tasks.cancelReservation(9_999),
      ]) {
        const error = await attempt().catch((e) => e);
        expect(error).toBeInstanceOf(TaskledgerError);
        expect(error).toMatchObject({ code: "not_found", field: "id" });
      }
      await expect(tl.tasks.cancel(0)).rejects.toMatchObject({ code: "invalid_input", field: "id" });
      await expect(tl.tasks.cancel("1" as never)).rejects.toMatchObject({
        code: "invalid_input",
        field: "id",
      });
      expect(await ledgerCounts(file)).toEqual(before);
      expect((await tl.tasks.get(mine.id))?.status).toBe("queued");
      expect(await tl.tasks.get(mine.id, { owner: "mallory" })).toBeUndefined();
    });
  });

  describe("cancel racing the end of an attempt", () => {
    it("a task canceled while running is not retried when that attempt then fails", async () => {
      const attempts: number[] = [];
      let cancelResult: unknown;
      const job = defineTask({
        name: "fails_after_cancel",
        retry: { max: 3, delay: 0 },
        async run(_: null, ctx) {
          attempts.push(ctx.attempt);
          // The cancel is recorded, then the attempt fails before its signal is delivered.
          cancelResult = await tl.tasks.cancel(ctx.id);
          throw new Error("failed after the cancel was requested");
        },
      });
      const { tl, file } = openLedger({ tasks: [job] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(job, null, { description: "canceled, then fails", owner: "alice" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(cancelResult).toMatchObject({ ok: true });
      expect(attempts).toEqual([1]);
      expect(done).toMatchObject({ status: "canceled", failed: true, progress: 100, attempts: 1 });
      expect(done.log).toMatch(/^Canceled while running/);
      expect(done.log).toContain("failed after the cancel was requested");
      expect(await waitingCount(file)).toBe(0);
      const names = (await tl.notifications.after("alice", 0)).map((n) => n.name);
      expect(names).not.toContain("task_retry");
      expect(names.at(-1)).toBe("task_canceled");
    });

    it("a task canceled while running is not requeued when its worker shuts down", async () => {
      const entered = gate<void>();
      const job = defineTask({
        name: "slow_to_notice",
        async run() {
          entered.open();
          await new Promise(() => {}); // ignores every signal
        },
      });
      const { tl, file } = openLedger({ tasks: [job] });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.enqueue(job, null, { description: "canceled, then shut down" });
      await entered.promise;
      // Stop first so the cancel is only on record when the grace runs out.
      const stopping = worker.stop({ graceMs: 200 });
      expect((await tl.tasks.cancel(task.id)).ok).toBe(true);
      await stopping;
      const done = await tl.tasks.get(task.id);
      expect(done).toMatchObject({ status: "canceled", failed: true, attempts: 1 });
      expect(await waitingCount(file)).toBe(0);
    });
  });
});
