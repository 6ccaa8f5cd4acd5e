import { describe, expect, it } from "vitest";
import { defineTask, type Notification, TaskledgerError } from "../../src/index.js";
import { ledgerCounts } from "../helpers/index.js";
import { eachDialect, isTerminal, ManualClock, openLedger, waitForTask } from "./fixture.js";

const report = defineTask({
  name: "build_report",
  run: async (payload: { month: string }) => ({ built: payload.month }),
});

eachDialect(() => {
  describe("reserve", () => {
    it("records a reservation: status reserved, reserved_at, queue high, a task_reserve notification at once", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks: [report], clock });
      const live: Notification[] = [];
      tl.notifications.subscribe((n) => live.push(n));
      const at = new Date(clock.now() + 60_000);
      const task = await tl.tasks.reserve(
        at,
        report,
        { month: "2030-01" },
        { description: "monthly report", owner: "alice" },
      );
      expect(task).toMatchObject({
        status: "reserved",
        queue: "high",
        owner: "alice",
        progress: 0,
        attempts: 0,
      });
      expect(task.reservedAt?.getTime()).toBe(at.getTime());
      const notes = await tl.notifications.after("alice", 0);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatchObject({
        name: "task_reserve",
        taskId: task.id,
        data: { taskId: task.id, reservedAt: at.toISOString() },
      });
      expect(live.map((n) => n.id)).toEqual([notes[0]!.id]);
      expect(await tl.tasks.reserved("alice")).toEqual([task]);
      expect(await tl.tasks.inProgress("alice")).toEqual([]);
    });

    it("keeps an explicit queue, and falls back to default when declared queues lack high", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks: [report], clock, queues: ["high", "default", "low"] });
      const at = clock.now() + 31_000;
      expect(
        (await tl.tasks.reserve(at, report, { month: "m" }, { description: "d", queue: "low" })).queue,
      ).toBe("low");
      const declared = openLedger({ tasks: [report], clock, queues: ["default", "low"] });
      expect((await declared.tl.tasks.reserve(at, report, { month: "m" }, { description: "d" })).queue).toBe(
        "default",
      );
    });

    it("accepts a Date, an ISO string and epoch ms exactly at the lead time", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks: [report], clock });
      const at = clock.now() + 30_000;
      const a = await tl.tasks.reserve(new Date(at), report, { month: "a" }, { description: "date" });
      const b = await tl.tasks.reserve(
        new Date(at + 1).toISOString(),
        report,
        { month: "b" },
        { description: "iso" },
      );
      const c = await tl.tasks.reserve(at + 2, report, { month: "c" }, { description: "ms" });
      expect([a, b, c].map((t) => t.reservedAt!.getTime() - at)).toEqual([0, 1, 2]);
    });

    it("becomes queued at its time and runs", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks: [report], clock });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.reserve(
        clock.now() + 45_000,
        report,
        { month: "2030-02" },
        { description: "later", owner: "bob" },
      );
      expect(await tl.sweep()).toMatchObject({ promoted: 0 });
      expect((await tl.tasks.get(task.id))?.status).toBe("reserved");

      clock.advance(44_999);
      expect(await tl.sweep()).toMatchObject({ promoted: 0 });
      expect((await tl.tasks.get(task.id))?.status).toBe("reserved");

      await worker.stop();
      clock.advance(1);
      expect(await tl.sweep()).toMatchObject({ promoted: 1 });
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "queued", attempts: 0 });
      expect((await tl.tasks.inProgress("bob")).map((t) => t.id)).toEqual([task.id]);

      await tl.createWorker().start();
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({
        status: "finished",
        failed: false,
        result: { built: "2030-02" },
        progress: 100,
      });
      expect(done.startedAt!.getTime()).toBe(clock.now());
    });

    it("runs on the real clock with a configured lead of 1 s, without a sweep", async () => {
      const { tl } = openLedger({
        tasks: [report],
        reservationLeadSeconds: 1,
        sweepIntervalMs: 60_000,
        leaseMs: 120_000,
      });
      await tl.createWorker().start();
      const at = Date.now() + 1_200;
      const task = await tl.tasks.reserve(at, report, { month: "soon" }, { description: "soon" });
      expect(task.status).toBe("reserved");
      const done = await waitForTask(tl, task.id, isTerminal, "the reservation to run", 15_000);
      expect(done).toMatchObject({ status: "finished", failed: false, result: { built: "soon" } });
      expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(at);
    });

    it("honours a configured lead time", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks: [report], clock, reservationLeadSeconds: 300 });
      await expect(
        tl.tasks.reserve(clock.now() + 299_000, report, { month: "x" }, { description: "d" }),
      ).rejects.toMatchObject({
        field: "at",
        message: expect.stringMatching(/at least 300 seconds/),
      });
      await expect(
        tl.tasks.reserve(clock.now() + 300_000, report, { month: "x" }, { description: "d" }),
      ).resolves.toMatchObject({
        status: "reserved",
      });
    });

    it.each([
      ["in the past", (now: number) => now - 1_000, /in the past/],
      ["now", (now: number) => now, /in the past/],
      ["less than the lead time ahead", (now: number) => now + 29_999, /at least 30 seconds/],
      ["an invalid date string", () => "next tuesday-ish", /not a valid date/],
      ["an empty string", () => "", /must be a Date/],
      ["NaN", () => Number.NaN, /not a valid date/],
      ["an invalid Date", () => new Date("nope"), /not a valid date/],
      ["null", () => null, /must be a Date/],
    ])("refuses a time %s, naming `at`, writing nothing", async (_label, at, message) => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [report], clock });
      await tl.migrate();
      const before = await ledgerCounts(file);
      const error = await tl.tasks
        .reserve(at(clock.now()) as never, report, { month: "x" }, { description: "d" })
        .catch((e) => e);
      expect(error).toBeInstanceOf(TaskledgerError);
      expect(error).toMatchObject({ code: "invalid_input", field: "at" });
      expect(error.message).toMatch(message);
      expect(await ledgerCounts(file)).toEqual(before);
    });
  });
});
