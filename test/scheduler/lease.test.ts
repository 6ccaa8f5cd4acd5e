import { describe, expect, it } from "vitest";
import { eachDialect, ManualClock, openLedger } from "../flow/fixture.js";
import { rawRows, waitFor } from "../helpers/index.js";
import { iso, MINUTE, noop, runRows, schedulerOf } from "./fixture.js";

/**
 * Several schedulers on one ledger, on a shared fake clock: only the lease holder fires, every
 * slot fires exactly once, and when the holder dies another takes over once its lease runs out.
 * (Ticks run one after another: in one process, SQLite connections on one file must not wait on
 * each other. The real-process test covers true concurrency.)
 */
const START = Date.UTC(2030, 0, 1, 9, 0, 0);
const STEP = 10_000;

function threeSchedulers(clock: ManualClock) {
  const settings = { tasks: [noop], clock, leaseMs: 30_000, heartbeatMs: 10_000 };
  const first = openLedger(settings);
  const others = [openLedger({ ...settings, url: first.url }), openLedger({ ...settings, url: first.url })];
  const instances = [first, ...others];
  return { file: first.file, tl: first.tl, instances, schedulers: instances.map((f) => schedulerOf(f.tl)) };
}

async function holder(file: string): Promise<string> {
  const [row] = await rawRows<{ holder: string }>(file, "select holder from leases where name = 'scheduler'");
  return row!.holder;
}

eachDialect(() => {
  describe("three schedulers, one schedule `* * * * *`, 60 simulated minutes", () => {
    it("fire exactly 60 runs, each slot once, on time", async () => {
      const clock = new ManualClock(START);
      const { file, tl, schedulers } = threeSchedulers(clock);
      const schedule = await tl.schedules.cron({
        key: "minute",
        task: noop,
        description: "every minute",
        cron: "* * * * *",
        overlap: "allow",
      });
      const activeCounts = [0, 0, 0];
      for (let t = START; t < START + 60 * MINUTE; t += STEP) {
        clock.advance(t - clock.now());
        // A different order each step: who ticks first must not matter.
        const order = [0, 1, 2].map((i) => (i + t / STEP) % 3);
        for (const index of order) {
          const report = await schedulers[index]!.tick();
          if (report.active) activeCounts[index]!++;
        }
      }
      const runs = await runRows(file, schedule.id);
      const expected = Array.from({ length: 60 }, (_, k) => START + k * MINUTE);
      expect(runs.map((r) => iso(r.slot_at))).toEqual(expected.map(iso));
      expect(runs.every((r) => r.created_at === r.slot_at)).toBe(true);
      // One holder all along: the others only stood by.
      expect(activeCounts.filter((n) => n > 0)).toHaveLength(1);
      expect((await tl.schedules.get("minute"))?.runCount).toBe(60);
    });

    it("lose the active one at minute 30: another takes over, 0 duplicates, at most one slot late", async () => {
      const clock = new ManualClock(START);
      const { file, tl, schedulers } = threeSchedulers(clock);
      const schedule = await tl.schedules.cron({
        key: "minute",
        task: noop,
        description: "every minute",
        cron: "* * * * *",
        overlap: "allow",
      });
      let alive = [0, 1, 2];
      let killed: string | undefined;
      for (let t = START; t < START + 60 * MINUTE; t += STEP) {
        clock.advance(t - clock.now());
        if (t === START + 30 * MINUTE) {
          // Dies without a word: it stops ticking and never releases its lease.
          killed = await holder(file);
          alive = alive.filter((i) => schedulers[i]!.id !== killed);
          expect(alive).toHaveLength(2);
        }
        for (const index of alive) await schedulers[index]!.tick();
      }
      expect(killed).toBeDefined();
      const successor = await holder(file);
      expect(successor).not.toBe(killed);

      const runs = await runRows(file, schedule.id);
      const slots = runs.map((r) => r.slot_at);
      expect(new Set(slots).size).toBe(slots.length);
      expect(slots.map(iso)).toEqual(Array.from({ length: 60 }, (_, k) => iso(START + k * MINUTE)));
      const late = runs.filter((r) => r.created_at > r.slot_at);
      // The 09:30 slot fell while the dead holder's lease still ran (it renewed at 09:29:50, for 30 s).
      expect(late.map((r) => iso(r.slot_at))).toEqual([iso(START + 30 * MINUTE)]);
      expect(late[0]!.created_at - late[0]!.slot_at).toBeLessThan(MINUTE);
    });

    it("only the holder fires; a standby takes over once the lease expires, not before", async () => {
      const clock = new ManualClock(START);
      const { schedulers } = threeSchedulers(clock);
      const [a, b] = schedulers;
      expect((await a!.tick()).active).toBe(true);
      expect((await b!.tick()).active).toBe(false);
      clock.advance(29_999);
      expect((await b!.tick()).active).toBe(false);
      clock.advance(1);
      expect((await b!.tick()).active).toBe(true);
      expect((await a!.tick()).active).toBe(false);
    });

    it("a scheduler that stops gives its lease up at once, and status shows who is active", async () => {
      const clock = new ManualClock(START);
      const { tl, schedulers } = threeSchedulers(clock);
      const [a, b] = schedulers;
      expect((await tl.status()).scheduler).toMatchObject({ running: false, holder: null });
      await a!.tick();
      clock.advance(5_000);
      await a!.tick();
      const status = (await tl.status()).scheduler;
      expect(status).toMatchObject({ running: true, holder: a!.id });
      expect(status.since?.getTime()).toBe(START);
      expect(status.lastSeenAt?.getTime()).toBe(START + 5_000);

      clock.advance(60_000);
      expect((await tl.status()).scheduler).toMatchObject({ running: false, holder: a!.id });

      // Started, it ticks at once and holds the lease again; stopped, it gives it up.
      await a!.start();
      await waitFor(async () => (await tl.status()).scheduler.running, {
        message: "the scheduler to hold its lease",
      });
      await a!.stop();
      expect((await tl.status()).scheduler).toMatchObject({ running: false, holder: null });
      expect((await b!.tick()).active).toBe(true);
    });
  });
});
