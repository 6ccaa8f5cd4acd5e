import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Delivery, Engine } from "../../src/engine/contract.js";
import { createBullmqPostgresEngine } from "../../src/engines/bullmq/postgres.js";
import { createThreadedBullmqEngine } from "../../src/engines/bullmq/threaded.js";
import { createMemoryEngine } from "../../src/engines/memory/engine.js";
import { createTaskledger, defineTask, type Taskledger, type TaskledgerOptions } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import * as ledger from "../../src/ledger/ledger.js";
import { gate, ManualClock } from "../flow/fixture.js";
import { freshDatabaseUrl, needsService } from "../helpers/dialects.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import { dropPrefixes, needsRedis, testPrefix, testRedisUrl } from "./bullmq-redis.js";
import { takeAndStart } from "./rounds.js";

/**
 * The engine contract's promises, for every engine (the ledger decides, the engine delivers).
 * Each `describe` runs the same statements against one engine; an engine on a server joins the
 * list with the services it needs.
 */
const ENGINES: {
  name: string;
  /** An engine for the ledger at `url` (one that lives in the ledger's database needs it). */
  make: (url: string) => "embedded" | Engine;
  /** A ledger of the test's own: a fresh database on a server; a SQLite file by default. */
  ledger?: () => Promise<string>;
  /** Skips (saying why) where the engine's services are missing. */
  needs?: (ctx: { skip: (note?: string) => void }) => void;
}[] = [
  { name: "embedded", make: () => "embedded" },
  { name: "memory", make: () => createMemoryEngine() },
  {
    name: "memory + PostgreSQL ledger",
    make: () => createMemoryEngine(),
    ledger: () => freshDatabaseUrl("postgres"),
    needs: (ctx) => needsService(ctx, "postgres"),
  },
  {
    name: "memory + MySQL/MariaDB ledger",
    make: () => createMemoryEngine(),
    ledger: () => freshDatabaseUrl("mysql"),
    needs: (ctx) => needsService(ctx, "mysql"),
  },
  {
    name: "bullmq (Redis) + SQLite ledger",
    make: () => createThreadedBullmqEngine({ url: testRedisUrl()!, prefix: testPrefix() }),
    needs: needsRedis,
  },
  {
    name: "bullmq (Redis) + PostgreSQL ledger",
    make: () => createThreadedBullmqEngine({ url: testRedisUrl()!, prefix: testPrefix() }),
    ledger: () => freshDatabaseUrl("postgres"),
    needs: (ctx) => {
      needsRedis(ctx);
      needsService(ctx, "postgres");
    },
  },
  {
    name: "bullmq (Redis) + MySQL/MariaDB ledger",
    make: () => createThreadedBullmqEngine({ url: testRedisUrl()!, prefix: testPrefix() }),
    ledger: () => freshDatabaseUrl("mysql"),
    needs: (ctx) => {
      needsRedis(ctx);
      needsService(ctx, "mysql");
    },
  },
  {
    name: "bullmq (PostgreSQL backend) + PostgreSQL ledger",
    make: (url) => createBullmqPostgresEngine({ url }),
    ledger: () => freshDatabaseUrl("postgres"),
    needs: (ctx) => needsService(ctx, "postgres"),
  },
];

const opened: Taskledger[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0)) await tl.close();
  await dropPrefixes();
});

/** The current test's ledger (`ledger` of its engine). */
let ledgerUrl = "";

function open(engine: "embedded" | Engine, options: Partial<TaskledgerOptions> = {}, url = ledgerUrl) {
  const tl = createTaskledger({ database: url, engine, tasks: [], ...options } as TaskledgerOptions);
  opened.push(tl);
  return tl;
}

const count = defineTask({ name: "count", run: (n: number) => n });

for (const { name, make: makeFor, ledger: ledgerOf, needs } of ENGINES) {
  describe(`the ${name} engine`, () => {
    beforeEach(async (ctx) => {
      needs?.(ctx);
      ledgerUrl = ledgerOf ? await ledgerOf() : tempDatabase().url;
    });
    const make = () => makeFor(ledgerUrl);
    it("deliveries are idempotent by task and attempt: a repeated one starts nothing more", async () => {
      const tl = open(make(), { tasks: [count] });
      const task = await tl.tasks.enqueue(count, 1, { description: "once" });
      const rt = runtimeOf(tl);
      const again: Delivery = { id: task.id, attempt: 1, queue: "default", priority: 0, runAt: Date.now() };
      await rt.transaction((tx) => rt.engine.deliver([again, again], tx));
      const first = await takeAndStart(tl, { worker: "w1", now: Date.now() });
      const second = await takeAndStart(tl, { worker: "w1", now: Date.now() });
      expect(first.started).toEqual([task.id]);
      expect(second.started).toEqual([]);
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "running", attempts: 1 });
    });

    it("a task is never started by two holders at once, and a stale delivery starts nothing", async () => {
      const tl = open(make(), { tasks: [count] });
      const task = await tl.tasks.enqueue(count, 1, { description: "one holder" });
      const now = Date.now();
      const [a, b] = await Promise.all([
        takeAndStart(tl, { worker: "a", now }),
        takeAndStart(tl, { worker: "b", now }),
      ]);
      expect([...a.started, ...b.started]).toEqual([task.id]);
      // A ghost of the first attempt, delivered late, is refused by the fenced start.
      const rt = runtimeOf(tl);
      await rt.transaction((tx) =>
        rt.engine.deliver([{ id: task.id, attempt: 1, queue: "default", priority: 0, runAt: now }], tx),
      );
      expect((await takeAndStart(tl, { worker: "c", now })).started).toEqual([]);
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "running", attempts: 1 });
    });

    it("higher priorities are taken first, first-in first-out within one", async () => {
      const tl = open(make(), { tasks: [count] });
      const ids: Record<string, number> = {};
      for (const [name, priority] of [
        ["low", -1_000_000],
        ["none", 0],
        ["high", 5],
        ["none2", 0],
        ["top", 1_000_000],
        ["high2", 5],
      ] as const) {
        ids[name] = (await tl.tasks.enqueue(count, 1, { description: name, priority })).id;
      }
      const { taken } = await takeAndStart(tl);
      expect(taken.map((d) => d.id)).toEqual([ids.top, ids.high, ids.high2, ids.none, ids.none2, ids.low]);
    });

    it("a delivery does not start before its time", async () => {
      const clock = new ManualClock();
      const tl = open(make(), { tasks: [count], clock, reservationLeadSeconds: 0 });
      const task = await tl.tasks.reserve(clock.now() + 60_000, count, 1, {
        description: "later",
        queue: "default",
      });
      const early = await runtimeOf(tl).transaction(async (tx) => {
        await ledger.promoteDueReservations(tx, clock.now());
        return null;
      });
      expect(early).toBeNull();
      expect((await takeAndStart(tl, { worker: "w", now: clock.now() })).started).toEqual([]);
      expect(await runtimeOf(tl).engine.nextDue(["default"], clock.now())).toBe(task.reservedAt!.getTime());
      clock.advance(60_000);
      await runtimeOf(tl).transaction((tx) => ledger.promoteDueReservations(tx, clock.now()));
      expect((await takeAndStart(tl, { worker: "w", now: clock.now() })).started).toEqual([task.id]);
    });

    it("outcomes are fenced: a stale attempt's outcome writes nothing", async () => {
      const tl = open(make(), { tasks: [count] });
      const task = await tl.tasks.enqueue(count, 1, { description: "fenced" });
      await takeAndStart(tl, { worker: "w", now: Date.now() });
      const rt = runtimeOf(tl);
      const stale = await rt.transaction((tx) =>
        ledger.settleOutcomes(tx, [{ kind: "success", id: task.id, attempts: 0, result: "1" }], Date.now()),
      );
      expect(stale.value).toEqual([]);
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "running", attempts: 1 });
    });

    it("an extended lease prevents the rescue; a lapsed one triggers it, and the task is delivered again", async () => {
      const clock = new ManualClock();
      const tl = open(make(), { tasks: [count], clock, leaseMs: 1_000, heartbeatMs: 300 });
      const task = await tl.tasks.enqueue(count, 1, { description: "leased" });
      await takeAndStart(tl, { worker: "w", now: clock.now() });
      const rt = runtimeOf(tl);
      clock.advance(800);
      const kept = await ledger.extendLeases(rt.db, "w", [{ id: task.id, attempts: 1 }], clock.now() + 1_000);
      expect(kept).toEqual([{ id: task.id, attempts: 1 }]);
      clock.advance(800);
      expect(await tl.sweep()).toMatchObject({ requeued: 0 });
      clock.advance(1_000);
      expect(await tl.sweep()).toMatchObject({ requeued: 1 });
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "queued", attempts: 1 });
      expect((await takeAndStart(tl, { worker: "v", now: clock.now() })).started).toEqual([task.id]);
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "running", attempts: 2 });
    });

    it("a cancel reaches the attempt's holder, whose signal fires", async () => {
      const entered = gate();
      let reason: unknown;
      const waits = defineTask({
        name: "waits",
        async run(_: null, ctx) {
          entered.open();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
          reason = ctx.signal.reason;
          throw ctx.signal.reason;
        },
      });
      const tl = open(make(), { tasks: [waits] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(waits, null, { description: "canceled while running" });
      await entered.promise;
      expect(await tl.tasks.cancel(task.id)).toMatchObject({ ok: true });
      await waitFor(async () => (await tl.tasks.get(task.id))?.status === "canceled", {
        message: "the cancel",
      });
      expect(String((reason as Error).message)).toBe("canceled");
    });

    it("a withdrawn delivery never starts", async () => {
      const tl = open(make(), { tasks: [count] });
      const task = await tl.tasks.enqueue(count, 1, { description: "withdrawn" });
      expect(await tl.tasks.cancel(task.id)).toMatchObject({ ok: true });
      expect((await takeAndStart(tl, { worker: "w", now: Date.now() })).started).toEqual([]);
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "canceled", attempts: 0 });
    });

    it("a crash between a ledger write and its delivery recovers: the task is delivered again and runs once", async () => {
      const url = ledgerUrl;
      const runs: number[] = [];
      const counted = defineTask({ name: "counted", run: (n: number) => void runs.push(n) });
      // The first process records the task, then "crashes" before its delivery leaves it.
      const engine = make();
      const crashing =
        engine === "embedded"
          ? engine
          : ({
              ...engine,
              deliver: async () => Promise.reject(new Error("crashed before delivering")),
            } as Engine);
      const first = open(crashing, { tasks: [counted] }, url);
      if (crashing !== "embedded" && crashing.delivery === "transaction") {
        // In the ledger's database the delivery is part of the ledger's write: no window between
        // them. A failed delivery takes the write back; the caller sees it and enqueues again.
        await expect(first.tasks.enqueue(counted, 7, { description: "rolled back" })).rejects.toThrow(
          "crashed before delivering",
        );
        expect(await first.tasks.list()).toEqual([]);
        await first.close();
        const second = open(make(), { tasks: [counted] }, url);
        await second.createWorker().start();
        const task = await second.tasks.enqueue(counted, 7, { description: "enqueued again" });
        await waitFor(async () => (await second.tasks.get(task.id))?.status === "finished", {
          message: "the task enqueued again",
        });
        expect(runs).toEqual([7]);
        return;
      }
      const quiet = console.error;
      console.error = () => {};
      const task = await first.tasks.enqueue(counted, 7, { description: "recorded, not delivered" });
      console.error = quiet;
      await first.close();
      // A new process: its engine holds nothing; the ledger has the task waiting.
      const second = open(make(), { tasks: [counted] }, url);
      await second.createWorker().start();
      await waitFor(async () => (await second.tasks.get(task.id))?.status === "finished", {
        message: "the recovered task",
      });
      expect(runs).toEqual([7]);
    });

    it("retries and releases are delivered as the next attempt, at the ledger's run_at", async () => {
      let tries = 0;
      const flaky = defineTask({
        name: "flaky",
        retry: { max: 2, delay: 10 },
        run: () => {
          if (++tries < 3) throw new Error(`try ${tries}`);
          return "third time";
        },
      });
      const tl = open(make(), { tasks: [flaky] });
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(flaky, null, { description: "fails twice" });
      await waitFor(async () => (await tl.tasks.get(task.id))?.status === "finished", {
        message: "the retries",
      });
      expect(await tl.tasks.get(task.id)).toMatchObject({ failed: false, attempts: 3, result: "third time" });
    });
  });
}
