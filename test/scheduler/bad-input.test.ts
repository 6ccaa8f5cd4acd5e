import { describe, expect, it } from "vitest";
import type { ScheduleEntry } from "../../src/index.js";
import { MAX_INTERVAL_MS } from "../../src/scheduler/timing.js";
import { eachDialect, openLedger } from "../flow/fixture.js";
import { ledgerCounts } from "../helpers/index.js";
import { noop } from "./fixture.js";

/**
 * Bad schedules are refused with a clear error naming the field, and nothing is stored — through
 * `cron()` / `schedule()` and through `register()` (where the field names the list entry).
 */
const cron = (expression: unknown, extra: Partial<ScheduleEntry> = {}) =>
  ({ key: "k", task: noop, description: "d", cron: expression, ...extra }) as ScheduleEntry;
const every = (ms: unknown, extra: Partial<ScheduleEntry> = {}) =>
  ({ key: "k", task: noop, description: "d", every: ms, ...extra }) as ScheduleEntry;

function refused(field: string, message: RegExp, code = "invalid_input") {
  return expect.objectContaining({
    name: "TaskledgerError",
    code,
    field,
    message: expect.stringMatching(message),
  });
}

const BAD_CRON: [string, RegExp][] = [
  ["* * * *", /has 4 fields; a cron expression has 5/],
  ["60 * * * *", /minute 60 is out of range 0–59/],
  ["* 24 * * *", /hour 24 is out of range 0–23/],
  ["* * 32 * *", /day-of-month 32 is out of range 1–31/],
  ["* * * 13 *", /month 13 is out of range 1–12/],
  ["*/0 * * * *", /not a valid cron expression \(Syntax error, illegal stepping: 0\)/],
  ["ONE * * * *", /not a valid cron expression .*illegal characters/],
  ["0 0 30 2 *", /"0 0 30 2 \*" never fires/],
  ["", /must be a cron expression such as/],
  ["* * * * * * *", /has 7 fields/],
];

eachDialect(() => {
  describe("bad schedules are refused, nothing stored", () => {
    it.each(BAD_CRON)("cron %j", async (expression, message) => {
      const { tl, file } = openLedger({ tasks: [noop] });
      await expect(tl.schedules.cron(cron(expression) as never)).rejects.toEqual(refused("cron", message));
      await expect(
        tl.schedules.register([cron("* * * * *", { key: "ok" }), cron(expression)]),
      ).rejects.toEqual(refused("schedules[1].cron", message));
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it('accepts "0 0 29 2 *" (leap days), 6 fields with seconds, and nicknames', async () => {
      const { tl } = openLedger({ tasks: [noop] });
      const leap = await tl.schedules.cron(cron("0 0 29 2 *") as never);
      expect(leap.nextRunAt?.toISOString()).toMatch(/-02-29T00:00:00\.000Z$/);
      const seconds = await tl.schedules.cron(cron("*/15 * * * * *", { key: "s" }) as never);
      expect((seconds.nextRunAt!.getTime() / 1000) % 15).toBe(0);
      expect((await tl.schedules.cron(cron("@hourly", { key: "h" }) as never)).cron).toBe("@hourly");
    });

    it('time zone "Mars/Base"', async () => {
      const { tl, file } = openLedger({ tasks: [noop] });
      const entry = cron("0 9 * * *", { tz: "Mars/Base" });
      await expect(tl.schedules.cron(entry as never)).rejects.toEqual(
        refused("tz", /unknown time zone "Mars\/Base"/),
      );
      await expect(tl.schedules.register([entry])).rejects.toEqual(
        refused("schedules[0].tz", /unknown time zone/),
      );
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it.each([
      [0, /at least 1000/],
      [-60_000, /at least 1000/],
      [Number.NaN, /must be a number of milliseconds \(got NaN\)/],
      [Number.POSITIVE_INFINITY, /must be a number of milliseconds \(got Infinity\)/],
      [999, /at least 1000 \(1 s\) \(got 999\)/],
      [1_500.5, /whole number/],
      ["60000", /must be a number of milliseconds \(got "60000"\)/],
      [1e30, /must be at most 315360000000 ms \(3650 days, about 10 years\) \(got 1e\+30\)/],
      [2 ** 53, /must be at most 315360000000 ms/],
      [8.64e15, /must be at most 315360000000 ms/],
      [MAX_INTERVAL_MS + 1, /must be at most 315360000000 ms/],
    ])("interval %s", async (ms, message) => {
      const { tl, file } = openLedger({ tasks: [noop] });
      await expect(tl.schedules.schedule(every(ms) as never)).rejects.toEqual(refused("every", message));
      await expect(tl.schedules.register([every(ms)])).rejects.toEqual(
        refused("schedules[0].every", message),
      );
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it("accepts the longest interval (3650 days) and a start at the horizon; every time stays a real date", async () => {
      const { tl } = openLedger({ tasks: [noop] });
      const startAt = Date.now() + 366 * 86_400_000 - 60_000;
      const schedule = await tl.schedules.schedule(every(MAX_INTERVAL_MS, { startAt }) as never);
      expect(schedule.nextRunAt?.getTime()).toBe(startAt);
      const listed = await tl.schedules.list();
      expect(listed.map((s) => [s.every, s.nextRunAt?.getTime()])).toEqual([[MAX_INTERVAL_MS, startAt]]);
    });

    it.each([0, -1, 1.5, Number.NaN])("repeat %s", async (repeat) => {
      const { tl, file } = openLedger({ tasks: [noop] });
      await expect(tl.schedules.schedule(every(60_000, { repeat }) as never)).rejects.toEqual(
        refused("repeat", /positive integer/),
      );
      await expect(tl.schedules.cron(cron("* * * * *", { repeat }) as never)).rejects.toEqual(
        refused("repeat", /positive integer/),
      );
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it("duplicate keys in one register list: nothing of the list is stored", async () => {
      const { tl, file } = openLedger({ tasks: [noop] });
      const list = [
        cron("* * * * *", { key: "a" }),
        every(60_000, { key: "b" }),
        cron("0 * * * *", { key: "a" }),
      ];
      await expect(tl.schedules.register(list)).rejects.toEqual(
        refused("schedules[2].key", /duplicate key "a" \(also schedules\[0\]\)/),
      );
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it("an unknown task", async () => {
      const { tl, file } = openLedger({ tasks: [noop] });
      await expect(tl.schedules.cron(cron("* * * * *", { task: "nope" }) as never)).rejects.toEqual(
        refused("task", /unknown task "nope" \(known: noop\)/, "unknown_task"),
      );
      await expect(tl.schedules.register([every(60_000, { task: "nope" })])).rejects.toEqual(
        refused("schedules[0].task", /unknown task "nope"/, "unknown_task"),
      );
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it.each([
      [{ key: "" }, "key", /must be 1–200 characters/],
      [{ key: " padded" }, "key", /surrounding spaces/],
      [{ description: "" }, "description", /is required/],
      [{ payload: { big: 1n } }, "payload.big", /BigInt/],
      [{ overlap: "queue" }, "overlap", /must be "skip" or "allow"/],
      [{ startAt: "someday" }, "startAt", /not a valid date/],
      [{ startAt: "2030-01-01T09:00:00" }, "startAt", /has no time zone: add Z or an offset such as \+09:00/],
      [{ startAt: 1e20 }, "startAt", /beyond the range of dates/],
      [{ startAt: Date.now() + 367 * 86_400_000 }, "startAt", /more than 366 days ahead/],
      [{ startAt: "9999-12-31T00:00:00Z" }, "startAt", /the limit is reservationHorizonDays \(366\)/],
      [{ timeout: 2 ** 31 }, "timeout", /at most 2147483647 ms/],
      [{ tz: "UTC" }, "tz", /cron schedules only/],
      [{ cron: "* * * * *" }, "cron", /either every or cron, not both|belongs to cron schedules/],
      [{ timeout: 0 }, "timeout", /positive integer/],
      [{ owner: "" }, "owner", /non-empty string/],
    ])("an interval entry with %o", async (extra, field, message) => {
      const { tl, file } = openLedger({ tasks: [noop] });
      const entry = every(60_000, extra as Partial<ScheduleEntry>);
      await expect(tl.schedules.schedule(entry as never)).rejects.toEqual(refused(field, message));
      await expect(tl.schedules.register([entry])).rejects.toEqual(
        refused(`schedules[0].${field}`, field === "cron" ? /either every or cron, not both/ : message),
      );
      expect((await ledgerCounts(file)).scheduled_tasks).toBe(0);
    });

    it("neither every nor cron; a list that is not an array; a bad key for get", async () => {
      const { tl } = openLedger({ tasks: [noop] });
      await expect(
        tl.schedules.register([{ key: "k", task: noop, description: "d" } as never]),
      ).rejects.toEqual(refused("schedules[0].every", /give every \(ms\) or cron/));
      await expect(tl.schedules.register("nope" as never)).rejects.toEqual(
        refused("schedules", /must be an array/),
      );
      await expect(tl.schedules.get(0)).rejects.toEqual(
        refused("key", /schedule key or a positive integer id/),
      );
      await expect(tl.schedules.pause("missing")).rejects.toMatchObject({ code: "not_found", field: "key" });
    });
  });
});
