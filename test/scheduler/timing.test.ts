import { afterEach, describe, expect, it } from "vitest";
import { currentDialect, eachDialect, ManualClock, openLedger } from "../flow/fixture.js";
import { freshDatabaseUrl } from "../helpers/dialects.js";
import { iso, MINUTE, noop, runRows, schedulerOf } from "./fixture.js";

/**
 * When runs fire, on a fake clock: interval + repeat, cron across daylight-saving changes (the
 * same whatever the host's TZ), missed slots (caught up once) and overlap (skipped, recorded).
 */
const HOUR = 60 * MINUTE;
const hostTz = process.env.TZ;
afterEach(() => {
  if (hostTz === undefined) delete process.env.TZ;
  else process.env.TZ = hostTz;
});

/** Tick one scheduler every `step` ms of fake time from the clock's now up to `until` (exclusive). */
async function drive(
  clock: ManualClock,
  scheduler: { tick(): Promise<unknown> },
  until: number,
  step: number,
) {
  for (; clock.now() < until; clock.advance(step)) await scheduler.tick();
}

eachDialect(() => {
  describe("interval schedules", () => {
    it("every 60 s with repeat 5: exactly 5 runs, at start + k·60 s, then none", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 9, 0, 0));
      const { tl, file } = openLedger({ tasks: [noop], clock });
      const start = clock.now() + 30_000;
      const schedule = await tl.schedules.schedule({
        key: "five",
        task: noop,
        description: "five times",
        every: 60_000,
        repeat: 5,
        startAt: new Date(start),
        overlap: "allow",
      });
      expect(schedule.nextRunAt?.getTime()).toBe(start);
      // Ticks every 7 s: slots are the schedule's times, not the ticks'.
      await drive(clock, schedulerOf(tl), start + 20 * MINUTE, 7_000);
      const runs = await runRows(file, schedule.id);
      expect(runs.map((r) => iso(r.slot_at))).toEqual([0, 1, 2, 3, 4].map((k) => iso(start + k * 60_000)));
      expect(runs.every((r) => r.created_at - r.slot_at < 7_000)).toBe(true);
      const after = await tl.schedules.get("five");
      expect(after).toMatchObject({ runCount: 5, nextRunAt: null, status: "running" });
      expect(after?.lastRunAt?.getTime()).toBe(start + 4 * 60_000);
    });

    it("start defaults to the creation time: the first run is due at once", async () => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [noop], clock });
      const schedule = await tl.schedules.schedule({
        key: "now",
        task: noop,
        description: "now",
        every: 5_000,
      });
      expect(schedule.startAt?.getTime()).toBe(clock.now());
      const report = await schedulerOf(tl).tick();
      expect(report.fired).toEqual([
        { scheduleId: schedule.id, slotAt: clock.now(), taskId: expect.any(Number) },
      ]);
      expect(await runRows(file)).toHaveLength(1);
    });
  });

  describe("missed slots and overlap", () => {
    it("slots missed while no scheduler ran are caught up by one run, for the latest one", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 10, 0, 0));
      const { tl, file } = openLedger({ tasks: [noop], clock });
      const schedule = await tl.schedules.cron({
        key: "m",
        task: noop,
        description: "minutely",
        cron: "* * * * *",
        overlap: "allow",
      });
      const scheduler = schedulerOf(tl);
      await scheduler.tick(); // 10:00
      clock.advance(5 * MINUTE + 30_000); // 10:05:30 — 10:01 … 10:05 were missed
      const report = await scheduler.tick();
      expect(report.fired.map((f) => iso(f.slotAt))).toEqual([iso(Date.UTC(2030, 0, 1, 10, 5))]);
      expect((await runRows(file, schedule.id)).map((r) => iso(r.slot_at))).toEqual([
        iso(Date.UTC(2030, 0, 1, 10, 0)),
        iso(Date.UTC(2030, 0, 1, 10, 5)),
      ]);
      expect((await tl.schedules.get("m"))?.nextRunAt?.toISOString()).toBe(iso(Date.UTC(2030, 0, 1, 10, 6)));
    });

    it("an interval schedule catches up once too, and keeps its grid", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 10, 0, 0));
      const { tl, file } = openLedger({ tasks: [noop], clock });
      const start = clock.now();
      await tl.schedules.schedule({
        key: "i",
        task: noop,
        description: "every 10 s",
        every: 10_000,
        overlap: "allow",
      });
      const scheduler = schedulerOf(tl);
      await scheduler.tick();
      clock.advance(95_000);
      await scheduler.tick();
      expect((await runRows(file)).map((r) => r.slot_at - start)).toEqual([0, 90_000]);
      expect((await tl.schedules.get("i"))?.nextRunAt?.getTime()).toBe(start + 100_000);
    });

    it('overlap "skip" (default): a slot whose previous run is still going is recorded as skipped, not fired', async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 10, 0, 0));
      const { tl, file } = openLedger({ tasks: [noop], clock });
      const schedule = await tl.schedules.cron({
        key: "s",
        task: noop,
        description: "minutely",
        cron: "* * * * *",
      });
      expect(schedule.overlap).toBe("skip");
      const scheduler = schedulerOf(tl);
      const first = await scheduler.tick(); // 10:00: queued, no worker takes it
      clock.advance(MINUTE);
      const second = await scheduler.tick(); // 10:01: skipped
      clock.advance(MINUTE);
      await scheduler.tick(); // 10:02: skipped
      expect(second.fired).toEqual([]);
      expect(second.skipped).toHaveLength(1);
      const rows = await runRows(file, schedule.id);
      expect(rows.map((r) => [r.status, r.failed])).toEqual([
        ["queued", 0],
        ["canceled", 1],
        ["canceled", 1],
      ]);
      expect(rows[1]!.log).toMatch(/^Skipped: the previous run of this schedule was still going/);
      expect((await tl.schedules.get("s"))?.runCount).toBe(1);
      // A skip is a canceled run in the owner's feed like any other.
      const feed = await tl.notifications.after(null, 0);
      expect(feed.filter((n) => n.name === "task_canceled").map((n) => n.taskId)).toEqual([
        rows[1]!.id,
        rows[2]!.id,
      ]);

      // Once the previous run is gone, the next slot fires again.
      await tl.tasks.cancel(first.fired[0]!.taskId);
      clock.advance(MINUTE);
      const fourth = await scheduler.tick();
      expect(fourth.fired.map((f) => iso(f.slotAt))).toEqual([iso(Date.UTC(2030, 0, 1, 10, 3))]);
      expect((await tl.schedules.get("s"))?.runCount).toBe(2);
    });

    it('overlap "allow" fires every slot whatever the previous runs do', async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1, 10, 0, 0));
      const { tl, file } = openLedger({ tasks: [noop], clock });
      await tl.schedules.cron({
        key: "a",
        task: noop,
        description: "minutely",
        cron: "* * * * *",
        overlap: "allow",
      });
      const scheduler = schedulerOf(tl);
      for (let i = 0; i < 3; i++, clock.advance(MINUTE)) await scheduler.tick();
      expect((await runRows(file)).map((r) => r.status)).toEqual(["queued", "queued", "queued"]);
    });
  });

  /**
   * America/New_York springs forward on 2026-03-08 (02:00 EST → 03:00 EDT) and falls back on
   * 2026-11-01 (02:00 EDT → 01:00 EST). Croner's rules (Vixie cron's): a fixed time that does not
   * exist runs at the first valid time after the gap; a fixed time that occurs twice runs once, at
   * its first occurrence; an hourly pattern runs every real hour, through both transitions.
   */
  const WINDOWS = {
    spring: [Date.UTC(2026, 2, 7, 0, 0), Date.UTC(2026, 2, 10, 0, 0)],
    fall: [Date.UTC(2026, 9, 31, 0, 0), Date.UTC(2026, 10, 3, 0, 0)],
  } as const;

  async function slotsAcross(window: readonly [number, number]): Promise<Record<string, string[]>> {
    const clock = new ManualClock(window[0]);
    // A ledger of its own each time (it is called several times in one test).
    const { tl, file } = openLedger({ tasks: [noop], clock, url: await freshDatabaseUrl(currentDialect()) });
    const patterns = { daily230: "30 2 * * *", daily130: "30 1 * * *", hourly: "0 * * * *" };
    const ids: Record<string, number> = {};
    for (const [key, cron] of Object.entries(patterns)) {
      ids[key] = (
        await tl.schedules.cron({
          key,
          task: noop,
          description: key,
          cron,
          tz: "America/New_York",
          overlap: "allow",
        })
      ).id;
    }
    await drive(clock, schedulerOf(tl), window[1], 30 * MINUTE);
    await tl.close();
    const slots: Record<string, string[]> = {};
    for (const [key, id] of Object.entries(ids))
      slots[key] = (await runRows(file, id)).map((r) => iso(r.slot_at));
    return slots;
  }

  const localDay = (instant: string) =>
    new Intl.DateTimeFormat("en-CA", {
      timeZone: "America/New_York",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).format(new Date(instant));

  describe("cron across daylight-saving changes (America/New_York)", () => {
    it("spring forward, 2026-03-08: 02:30 does not exist and runs at 03:00; the day has 23 hourly runs", async () => {
      const slots = await slotsAcross(WINDOWS.spring);
      expect(slots.daily230).toEqual([
        "2026-03-07T07:30:00.000Z",
        "2026-03-08T07:00:00.000Z",
        "2026-03-09T06:30:00.000Z",
      ]);
      expect(slots.daily130).toEqual([
        "2026-03-07T06:30:00.000Z",
        "2026-03-08T06:30:00.000Z",
        "2026-03-09T05:30:00.000Z",
      ]);
      expect(slots.hourly).toHaveLength(72);
      expect(slots.hourly!.filter((s) => localDay(s) === "2026-03-08")).toHaveLength(23);
      expect(
        slots.hourly!.every((s, i) => i === 0 || Date.parse(s) - Date.parse(slots.hourly![i - 1]!) === HOUR),
      ).toBe(true);
    });

    it("fall back, 2026-11-01: 01:30 occurs twice and runs once; the day has 25 hourly runs", async () => {
      const slots = await slotsAcross(WINDOWS.fall);
      expect(slots.daily230).toEqual([
        "2026-10-31T06:30:00.000Z",
        "2026-11-01T07:30:00.000Z",
        "2026-11-02T07:30:00.000Z",
      ]);
      expect(slots.daily130).toEqual([
        "2026-10-31T05:30:00.000Z",
        "2026-11-01T05:30:00.000Z",
        "2026-11-02T06:30:00.000Z",
      ]);
      expect(slots.hourly).toHaveLength(72);
      expect(slots.hourly!.filter((s) => localDay(s) === "2026-11-01")).toHaveLength(25);
    });

    it("gives identical results whatever the host's TZ", async () => {
      const results: string[] = [];
      for (const tz of ["UTC", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "Europe/London"]) {
        process.env.TZ = tz;
        // The host zone really changed (Node re-reads TZ when it is assigned).
        const offset = new Date(2026, 0, 1).getTimezoneOffset();
        expect({ tz, offset }).toEqual({
          tz,
          offset: {
            UTC: 0,
            "America/New_York": 300,
            "Asia/Tokyo": -540,
            "Australia/Lord_Howe": -660,
            "Europe/London": 0,
          }[tz],
        });
        results.push(JSON.stringify([await slotsAcross(WINDOWS.spring), await slotsAcross(WINDOWS.fall)]));
      }
      expect(new Set(results).size).toBe(1);
    });
  });
});
