import { describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type ScheduleEntry } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { eachDialect, ManualClock, openLedger } from "../flow/fixture.js";
import { MINUTE, noop, runRows, scheduleRows, schedulerOf } from "./fixture.js";

/**
 * `register(list)` — the seeds' `register_schedules`, with the list in code as the truth:
 * add / keep / update / remove / revive, each seen on the rows and in the returned summary.
 */
const other = defineTask({ name: "other", run: () => null });
const tasks = [noop, other];

const A: ScheduleEntry = {
  key: "a",
  task: noop,
  description: "a every minute",
  cron: "* * * * *",
  overlap: "allow",
};
const B: ScheduleEntry = {
  key: "b",
  task: "noop",
  description: "b every 10 min",
  every: 10 * MINUTE,
  payload: { n: 1 },
};
const C: ScheduleEntry = {
  key: "c",
  task: other,
  description: "c nightly",
  cron: "0 3 * * *",
  tz: "Europe/Paris",
};
const D: ScheduleEntry = { key: "d", task: noop, description: "d hourly", cron: "0 * * * *" };

eachDialect(() => {
  describe("register", () => {
    it("keeps a schedule stored by an earlier version, whose runs' retry policy is JSON", async () => {
      const { tl, file } = openLedger({ tasks });
      const retrying: ScheduleEntry = { ...A, retry: { max: 2, delay: 250, backoff: "exponential" } };
      await tl.schedules.register([retrying, B]);
      const before = await scheduleRows(file);
      expect(JSON.parse(before.a!.spec as string).run.retry).toBe("exp 250");
      const legacy = (spec: unknown) => {
        const parsed = JSON.parse(spec as string);
        const timing =
          parsed.run.retry === "5000"
            ? { delay: 5_000, backoff: "fixed" }
            : { delay: 250, backoff: "exponential" };
        return JSON.stringify({
          ...parsed,
          run: { ...parsed.run, retry: JSON.stringify({ ...timing, max: parsed.run.maxAttempts - 1 }) },
        });
      };
      for (const key of ["a", "b"]) {
        await runtimeOf(tl)
          .db.updateTable("scheduled_tasks")
          .set({ spec: legacy(before[key]!.spec) })
          .where("key", "=", key)
          .execute();
      }

      expect(await tl.schedules.register([retrying, B])).toMatchObject({ updated: [], kept: ["a", "b"] });
      const after = await scheduleRows(file);
      expect(after.a!.next_run_at).toBe(before.a!.next_run_at);
      // …and a real change is still one.
      expect(await tl.schedules.register([{ ...retrying, retry: 1 }, B])).toMatchObject({
        updated: ["a"],
        kept: ["b"],
      });
    });

    it("adds, keeps, updates, removes and revives — on the rows and in the summary", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 9, 0, 0));
      const { tl, file } = openLedger({ tasks, clock });

      expect(await tl.schedules.register([A, B, C])).toEqual({
        added: ["a", "b", "c"],
        revived: [],
        updated: [],
        kept: [],
        removed: [],
      });
      let rows = await scheduleRows(file);
      expect(Object.keys(rows)).toEqual(["a", "b", "c"]);
      for (const row of Object.values(rows))
        expect(row).toMatchObject({ status: "running", declared: 1, run_count: 0 });
      expect(rows.c).toMatchObject({ name: "other", type: "cron", next_run_at: Date.UTC(2030, 0, 2, 2, 0) }); // 03:00 Paris
      expect(rows.b).toMatchObject({ type: "schedule", next_run_at: clock.now(), payload: '{"n":1}' });

      // Some history: a, b and c fire once (c's time is made to come).
      const scheduler = schedulerOf(tl);
      await scheduler.tick();
      clock.advance(18 * 60 * MINUTE);
      await scheduler.tick();
      const before = await scheduleRows(file);
      expect(before.c!.run_count).toBe(1);

      clock.advance(MINUTE / 2);
      const B2 = { ...B, every: 15 * MINUTE };
      expect(await tl.schedules.register([A, B2, D])).toEqual({
        added: ["d"],
        revived: [],
        updated: ["b"],
        kept: ["a"],
        removed: ["c"],
      });
      rows = await scheduleRows(file);
      // kept: untouched, next time and all.
      expect(rows.a).toEqual(before.a);
      // updated: in place, same id, history kept, next time recomputed on the new grid.
      expect(rows.b).toMatchObject({
        id: before.b!.id,
        run_count: before.b!.run_count,
        last_run_at: before.b!.last_run_at,
      });
      expect(JSON.parse(rows.b!.spec as string)).toMatchObject({
        every: 15 * MINUTE,
        startAt: Date.UTC(2030, 0, 1, 9, 0),
      });
      expect(rows.b!.next_run_at).toBe(Date.UTC(2030, 0, 2, 3, 15));
      // removed: stops firing, keeps its history.
      expect(rows.c).toMatchObject({ id: before.c!.id, status: "death", next_run_at: null, run_count: 1 });
      expect(rows.d).toMatchObject({ status: "running", declared: 1 });

      clock.advance(24 * 60 * MINUTE);
      const fired = await scheduler.tick();
      expect(fired.fired.map((f) => f.scheduleId)).not.toContain(before.c!.id);

      // revived: the dead row comes back running, with its id and its runs.
      expect(await tl.schedules.register([A, B2, D, C])).toEqual({
        added: [],
        revived: ["c"],
        updated: [],
        kept: ["a", "b", "d"],
        removed: [],
      });
      rows = await scheduleRows(file);
      expect(rows.c).toMatchObject({ id: before.c!.id, status: "running", run_count: 1 });
      expect(rows.c!.next_run_at).toBeGreaterThan(clock.now());
      expect(await runRows(file, before.c!.id as number)).toHaveLength(1);
    });

    it("a restart with the same list changes nothing", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 9, 0, 0));
      const first = openLedger({ tasks, clock });
      await first.tl.schedules.register([A, B, C, D]);
      await schedulerOf(first.tl).tick();
      await first.tl.close();
      const before = await scheduleRows(first.file);

      clock.advance(7 * MINUTE);
      const restarted = openLedger({ tasks, clock, url: first.url });
      expect(await restarted.tl.schedules.register([A, B, C, D])).toEqual({
        added: [],
        revived: [],
        updated: [],
        kept: ["a", "b", "c", "d"],
        removed: [],
      });
      expect(await scheduleRows(first.file)).toEqual(before);
    });

    it("a changed payload, description, task or time zone is an update; a reordered list is not", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 9, 0, 0));
      const { tl } = openLedger({ tasks, clock });
      await tl.schedules.register([A, B, C, D]);
      const summary = await tl.schedules.register([
        { ...D },
        { ...C, tz: "Asia/Seoul" },
        { ...B, payload: { n: 2 } },
        { ...A, description: "a, reworded" },
      ]);
      expect(summary.updated.sort()).toEqual(["a", "b", "c"]);
      expect(summary.kept).toEqual(["d"]);
      expect((await tl.schedules.get("c"))?.tz).toBe("Asia/Seoul");
      expect((await tl.schedules.get("b"))?.payload).toEqual({ n: 2 });
      const swapped = await tl.schedules.register([
        { ...A, description: "a, reworded", task: other },
        B,
        C,
        D,
      ]);
      expect(swapped.updated).toContain("a");
      expect((await tl.schedules.get("a"))?.name).toBe("other");
    });

    it("re-registration sets a failed schedule back to running", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks, clock });
      await tl.schedules.register([A]);
      await runtimeOf(tl)
        .db.updateTable("scheduled_tasks")
        .set({ status: "failed" })
        .where("key", "=", "a")
        .execute();
      expect(await tl.schedules.register([A])).toMatchObject({ kept: ["a"] });
      expect((await tl.schedules.get("a"))?.status).toBe("running");
    });

    it("leaves schedules made with schedule() / cron() alone unless the list names them", async () => {
      const clock = new ManualClock();
      const { tl } = openLedger({ tasks, clock });
      await tl.schedules.cron({
        key: "made-at-runtime",
        task: noop,
        description: "by the app",
        cron: "*/5 * * * *",
        owner: "alice",
      });
      await tl.schedules.register([A]);
      expect(await tl.schedules.register([])).toEqual({
        added: [],
        revived: [],
        updated: [],
        kept: [],
        removed: ["a"],
      });
      expect((await tl.schedules.get("made-at-runtime"))?.status).toBe("running");
      // Named by a list, it becomes declared, and a later list without it retires it.
      await tl.schedules.register([
        {
          key: "made-at-runtime",
          task: noop,
          description: "by the app",
          cron: "*/5 * * * *",
          owner: "alice",
        },
      ]);
      expect((await tl.schedules.get("made-at-runtime"))?.declared).toBe(true);
      expect((await tl.schedules.register([])).removed).toEqual(["made-at-runtime"]);
    });

    it("schedule() and cron() are idempotent by key: the seeds' exists() check, done right", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks, clock });
      const first = await tl.schedules.schedule({ key: "k", task: noop, description: "d", every: 60_000 });
      clock.advance(30_000);
      const again = await tl.schedules.schedule({ key: "k", task: noop, description: "d", every: 60_000 });
      expect(again).toEqual(first);
      const changed = await tl.schedules.schedule({ key: "k", task: noop, description: "d", every: 120_000 });
      expect(changed).toMatchObject({ id: first.id, every: 120_000, startAt: first.startAt });
      expect(changed.nextRunAt?.getTime()).toBe(first.startAt!.getTime() + 120_000);
      expect(Object.keys(await scheduleRows(file))).toEqual(["k"]);
    });

    it("registers the instance's `schedules` option when a worker with the scheduler starts", async () => {
      const { tl } = openLedger({ tasks, schedules: [A, B] });
      const worker = tl.createWorker({ withScheduler: true });
      await worker.start();
      expect((await tl.schedules.list()).map((s) => [s.key, s.declared])).toEqual([
        ["a", true],
        ["b", true],
      ]);
      await worker.stop();
    });

    it("checks the `schedules` option when the instance is created", () => {
      expect(() =>
        createTaskledger({ database: "sqlite::memory:", tasks, schedules: [{ ...A, cron: "61 * * * *" }] }),
      ).toThrow(expect.objectContaining({ code: "invalid_input", field: "schedules[0].cron" }));
    });
  });
});
