import { describe, expect, it } from "vitest";
import { defineTask, type Notification, setTaskProgress, TaskledgerError } from "../../src/index.js";
import { waitFor } from "../helpers/index.js";
import { eachDialect, gate, isTerminal, openLedger, waitForTask } from "./fixture.js";

eachDialect(() => {
  /** What the seeds' `@background_task` did around the handler, step by step. */
  describe("the task wrapper", () => {
    it("marks the task running at progress 0, stores the result as JSON, finishes at progress 100", async () => {
      const release = gate<void>();
      const entered = gate<number>();
      const mail = defineTask({
        name: "send_async_mail",
        async run(payload: { to: string }, ctx) {
          entered.open(ctx.id);
          await release.promise;
          return { result: "success", to: payload.to };
        },
      });
      const { tl } = openLedger({ tasks: [mail] });
      const worker = tl.createWorker({ concurrency: 1 });
      await worker.start();
      const task = await tl.tasks.enqueue(
        mail,
        { to: "a@example.com" },
        { description: "welcome mail", owner: "alice" },
      );
      expect(task).toMatchObject({ status: "queued", progress: 0, attempts: 0, result: null, failed: false });

      expect(await entered.promise).toBe(task.id);
      const running = await tl.tasks.get(task.id);
      expect(running).toMatchObject({ status: "running", progress: 0, attempts: 1, failed: false });
      expect(running!.startedAt).toBeInstanceOf(Date);
      const started = await tl.notifications.after("alice", 0);
      expect(started.map((n) => [n.name, n.data.progress])).toEqual([["task_progress", 0]]);
      expect(started[0]!.taskId).toBe(task.id);

      release.open();
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: false, progress: 100, log: null });
      expect(done.result).toEqual({ result: "success", to: "a@example.com" });
      expect(done.finishedAt).toBeInstanceOf(Date);
      const notes = await tl.notifications.after("alice", 0);
      expect(notes.map((n) => [n.name, n.data.progress ?? null])).toEqual([
        ["task_progress", 0],
        ["task_progress", 100],
        ["task_finished", null],
      ]);
    });

    it("records a thrown error as failed with message and stack in the log, at progress 100", async () => {
      const broken = defineTask({
        name: "broken",
        retry: 0,
        async run() {
          await Promise.resolve();
          throw new Error("SMTP server said no");
        },
      });
      const { tl } = openLedger({ tasks: [broken] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(broken, null, { description: "will fail", owner: "bob" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({
        status: "finished",
        failed: true,
        progress: 100,
        result: null,
        attempts: 1,
      });
      expect(done.log).toContain("Error: SMTP server said no");
      expect(done.log).toMatch(/\n\s+at /); // the stack
      const names = (await tl.notifications.after("bob", 0)).map((n) => [n.name, n.data.progress ?? null]);
      expect(names).toEqual([
        ["task_progress", 0],
        ["task_progress", 100],
        ["task_failed", null],
      ]);
    });

    it("treats a synchronous throw and a non-Error throw like any failure", async () => {
      const sync = defineTask({
        name: "sync_throw",
        retry: 0,
        run() {
          throw new TypeError("bad argument");
        },
      });
      const odd = defineTask({
        name: "odd_throw",
        retry: 0,
        async run() {
          throw { code: 42 };
        },
      });
      const { tl } = openLedger({ tasks: [sync, odd] });
      await tl.createWorker().start();
      const a = await tl.tasks.enqueue(sync, null, { description: "sync" });
      const b = await tl.tasks.enqueue(odd, null, { description: "odd" });
      const doneA = await waitForTask(tl, a.id, isTerminal);
      const doneB = await waitForTask(tl, b.id, isTerminal);
      expect(doneA).toMatchObject({ failed: true, progress: 100 });
      expect(doneA.log).toContain("TypeError: bad argument");
      expect(doneB).toMatchObject({ failed: true, progress: 100 });
      expect(doneB.log).toContain('{"code":42}');
    });

    it("fails a task whose result is not JSON, naming the path", async () => {
      const bigint = defineTask({ name: "bigint_result", retry: 0, run: async () => ({ total: 10n }) });
      const { tl } = openLedger({ tasks: [bigint] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(bigint, null, { description: "returns a BigInt" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: true, progress: 100, result: null });
      expect(done.log).toContain("result.total");
    });

    it("ctx.setProgress and setTaskProgress from a nested async function update the row and notify", async () => {
      const step = gate<void>();
      const reported = gate<void>();
      async function deepHelper(): Promise<void> {
        await Promise.resolve();
        await new Promise((resolve) => setImmediate(resolve));
        await setTaskProgress(75, { stage: "attachments" });
      }
      const steps = defineTask({
        name: "steps",
        async run(_: null, ctx) {
          await ctx.setProgress(50);
          await deepHelper();
          reported.open();
          await step.promise;
          return "done";
        },
      });
      const { tl } = openLedger({ tasks: [steps] });
      const live: Notification[] = [];
      tl.notifications.subscribe((n) => live.push(n));
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(steps, null, { description: "progress", owner: "carol" });
      await reported.promise;
      expect((await tl.tasks.get(task.id))?.progress).toBe(75);
      const notes = await tl.notifications.after("carol", 0);
      expect(notes.map((n) => n.data.progress)).toEqual([0, 50, 75]);
      expect(notes.every((n) => n.name === "task_progress" && n.taskId === task.id)).toBe(true);
      expect(notes[2]!.data.data).toEqual({ stage: "attachments" });
      step.open();
      await waitForTask(tl, task.id, isTerminal);
      await waitFor(() => live.length === 5, { message: "live notifications" });
      expect(live.map((n) => n.data.progress ?? n.name)).toEqual([0, 50, 75, 100, "task_finished"]);
    });

    it("setTaskProgress outside a running task rejects", async () => {
      await expect(setTaskProgress(10)).rejects.toBeInstanceOf(TaskledgerError);
      await expect(setTaskProgress(10)).rejects.toThrow(/outside a running task/);
    });

    it.each([[-1], [101], [Number.NaN], [Number.POSITIVE_INFINITY]])(
      "refuses progress %s, leaving the row alone",
      async (value) => {
        const errors: unknown[] = [];
        const task = defineTask({
          name: "bad_progress",
          async run(_: null, ctx) {
            await ctx.setProgress(40);
            await ctx.setProgress(value).catch((error) => errors.push(error));
            await setTaskProgress(value).catch((error) => errors.push(error));
            return "ok";
          },
        });
        const { tl } = openLedger({ tasks: [task] });
        const progress: unknown[] = [];
        tl.notifications.subscribe((n) => progress.push(n.data.progress));
        await tl.createWorker().start();
        const created = await tl.tasks.enqueue(task, null, { description: "bad progress", owner: "dave" });
        const done = await waitForTask(tl, created.id, isTerminal);
        expect(done).toMatchObject({ status: "finished", failed: false });
        expect(errors).toHaveLength(2);
        for (const error of errors) expect(error).toMatchObject({ code: "invalid_input", field: "progress" });
        expect((await tl.notifications.after("dave", 0)).map((n) => n.data.progress ?? null)).toEqual([
          0,
          40,
          100,
          null,
        ]);
      },
    );

    it("keeps Korean text and emoji intact through payload and result", async () => {
      const echo = defineTask({
        name: "echo",
        run: async (payload: { 제목: string; tags: string[] }) => ({
          받은것: payload,
          메시지: `${payload.제목} 완료 🎉`,
        }),
      });
      const { tl } = openLedger({ tasks: [echo] });
      await tl.createWorker().start();
      const payload = { 제목: "환영 메일 📨", tags: ["가나다", "👨‍👩‍👧", "ㄱ"] };
      const task = await tl.tasks.enqueue(echo, payload, { description: "한국어 설명 ✉️", owner: "김철수" });
      expect(task.payload).toEqual(payload);
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done.description).toBe("한국어 설명 ✉️");
      expect(done.owner).toBe("김철수");
      expect(done.payload).toEqual(payload);
      expect(done.result).toEqual({ 받은것: payload, 메시지: "환영 메일 📨 완료 🎉" });
    });
  });
});
