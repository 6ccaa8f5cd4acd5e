import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { rawColumn, waitFor } from "../helpers/index.js";
import { eachDialect, isTerminal, ManualClock, openLedger, waitForTask } from "./fixture.js";

async function queueRunAt(file: string, id: number): Promise<number | undefined> {
  const [runAt] = await rawColumn(
    file,
    "select run_at from tasks where id = ? and status in ('queued', 'reserved')",
    id,
  );
  return runAt;
}

eachDialect(() => {
  describe("retries", () => {
    it("by default retries 3 more times, 5 s apart (on an injected clock)", async () => {
      const clock = new ManualClock();
      const attempts: number[] = [];
      const flaky = defineTask({
        name: "flaky",
        async run(_: null, ctx) {
          attempts.push(ctx.attempt);
          throw new Error(`attempt ${ctx.attempt} failed`);
        },
      });
      const { tl, file } = openLedger({ tasks: [flaky], clock });
      const task = await tl.tasks.enqueue(flaky, null, { description: "always fails", owner: "alice" });
      expect(task.maxAttempts).toBe(4);
      await tl.createWorker().start();

      for (let attempt = 1; attempt <= 3; attempt++) {
        const failedAt = clock.now();
        const waiting = await waitForTask(
          tl,
          task.id,
          (t) => t.attempts === attempt && t.status === "queued",
          `retry ${attempt}`,
        );
        expect(waiting).toMatchObject({ failed: false, progress: 0 });
        expect(waiting.log).toContain(`attempt ${attempt} failed`);
        expect(await queueRunAt(file, task.id)).toBe(failedAt + 5_000);
        const retry = (await tl.notifications.after("alice", 0))
          .filter((n) => n.name === "task_retry")
          .at(-1);
        expect(retry?.data).toEqual({
          taskId: task.id,
          attempts: attempt,
          retryAt: new Date(failedAt + 5_000).toISOString(),
        });
        clock.advance(4_999);
        await tl.sweep();
        expect(attempts).toHaveLength(attempt); // not yet due
        clock.advance(1);
      }
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(attempts).toEqual([1, 2, 3, 4]);
      expect(done).toMatchObject({ status: "finished", failed: true, attempts: 4, progress: 100 });
      expect(done.log).toContain("attempt 4 failed");
      expect(await queueRunAt(file, task.id)).toBeUndefined();
      const names = (await tl.notifications.after("alice", 0)).map((n) => n.name);
      expect(names.filter((n) => n === "task_retry")).toHaveLength(3);
      expect(names.at(-1)).toBe("task_failed");
    });

    it("runs again after a short delay and succeeds on a later attempt", async () => {
      const flaky = defineTask({
        name: "flaky",
        retry: { max: 2, delay: 50 },
        async run(_: null, ctx) {
          if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
          return { attempt: ctx.attempt, key: ctx.idempotencyKey };
        },
      });
      const { tl } = openLedger({ tasks: [flaky] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(flaky, null, { description: "third time lucky" });
      expect(task.maxAttempts).toBe(3);
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({
        status: "finished",
        failed: false,
        attempts: 3,
        result: { attempt: 3, key: `${task.id}:3` },
      });
    });

    it("doubles exponential backoff delays", async () => {
      const clock = new ManualClock();
      const failing = defineTask({
        name: "failing",
        retry: { max: 3, delay: 100, backoff: "exponential" },
        run: async () => Promise.reject(new Error("no")),
      });
      const { tl, file } = openLedger({ tasks: [failing], clock });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(failing, null, { description: "backoff" });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const failedAt = clock.now();
        await waitForTask(tl, task.id, (t) => t.attempts === attempt && t.status === "queued");
        const runAt = await queueRunAt(file, task.id)!;
        delays.push(runAt - failedAt);
        clock.advance(runAt - failedAt);
      }
      expect(delays).toEqual([100, 200, 400]);
      expect(await waitForTask(tl, task.id, isTerminal)).toMatchObject({ failed: true, attempts: 4 });
    });

    it("with retry: 0 fails at once", async () => {
      const once = defineTask({
        name: "once",
        retry: 0,
        run: async () => Promise.reject(new Error("only once")),
      });
      const { tl } = openLedger({ tasks: [once] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(once, null, { description: "no retry", owner: "alice" });
      expect(task.maxAttempts).toBe(1);
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: true, attempts: 1 });
      expect((await tl.notifications.after("alice", 0)).map((n) => n.name)).not.toContain("task_retry");
    });

    it("an enqueue option overrides the definition's retry", async () => {
      const flaky = defineTask({ name: "flaky", retry: 5, run: async () => Promise.reject(new Error("x")) });
      const { tl } = openLedger({ tasks: [flaky] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(flaky, null, { description: "override", retry: 0 });
      expect(await waitForTask(tl, task.id, isTerminal)).toMatchObject({
        failed: true,
        attempts: 1,
        maxAttempts: 1,
      });
    });

    it("a per-attempt timeout fails the attempt with a clear log and retries while attempts remain", async () => {
      let signalReason: unknown;
      const slow = defineTask({
        name: "slow",
        timeout: 100,
        retry: { max: 1, delay: 0 },
        async run(_: null, ctx) {
          if (ctx.attempt === 1) {
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
            signalReason = ctx.signal.reason;
            return "too late";
          }
          return "in time";
        },
      });
      const { tl } = openLedger({ tasks: [slow] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(slow, null, { description: "times out once", owner: "alice" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: false, attempts: 2, result: "in time" });
      expect((signalReason as Error).name).toBe("TimeoutError");
      const retry = (await tl.notifications.after("alice", 0)).find((n) => n.name === "task_retry");
      expect(retry?.data.attempts).toBe(1);
      expect(done.log).toMatch(/timed out after 100 ms \(attempt 1\)/);
    });

    it("a timeout on the last attempt fails the task", async () => {
      const hang = defineTask({ name: "hang", timeout: 50, retry: 0, run: () => new Promise(() => {}) });
      const { tl } = openLedger({ tasks: [hang] });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.enqueue(hang, null, { description: "hangs" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: true, progress: 100, attempts: 1 });
      expect(done.log).toMatch(/timed out after 50 ms \(attempt 1\)/);
      await waitFor(() => worker.active === 0, { message: "the slot to be freed" });
    });
  });
});
