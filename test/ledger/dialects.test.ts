import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Taskledger, TaskledgerError } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { openDatabase } from "../../src/ledger/database.js";
import { holdLease } from "../../src/ledger/leases.js";
import { insertTasks } from "../../src/ledger/ledger.js";
import { DIALECTS, freshDatabaseUrl, skipped } from "../helpers/dialects.js";

/**
 * What each database must get right for the ledger to be the same on all of them: what the
 * server-side type or statement differences would otherwise change (sizes, case, ids, numbers,
 * cascades, the lease), and what runs where.
 */
const echo = defineTask({ name: "echo", run: async (payload: unknown) => payload });

const opened: Taskledger[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0).reverse()) await tl.close();
});

for (const dialect of DIALECTS) {
  describe.skipIf(skipped(dialect))(`the ledger on ${dialect.name}`, () => {
    let url: string;
    beforeEach(async () => {
      url = await freshDatabaseUrl(dialect.name);
    });
    // The embedded engine on SQLite; on a server, the in-process engine (the ledger is what is tested).
    const open = (options: Partial<Parameters<typeof createTaskledger>[0]> = {}) => {
      const tl = createTaskledger({
        database: url,
        tasks: [echo],
        pollIntervalMs: 20,
        ...(dialect.name === "sqlite" ? {} : { engine: "memory" as const }),
        ...options,
      });
      opened.push(tl);
      return tl;
    };

    it("keeps payloads, results and logs far larger than 64 KB, 4-byte characters included", async () => {
      const tl = open();
      const big = { text: "🙂 ünïcode ".repeat(30_000) }; // ~ 450 KB of JSON
      const task = await tl.tasks.enqueue(echo, big, { description: "large" });
      const worker = tl.createWorker();
      await worker.start();
      for (let i = 0; i < 500 && (await tl.tasks.get(task.id))?.status !== "finished"; i++)
        await new Promise((r) => setTimeout(r, 20));
      await worker.stop();
      const done = await tl.tasks.get(task.id);
      expect(done).toMatchObject({ status: "finished", failed: false });
      expect(done!.payload).toEqual(big);
      expect(done!.result).toEqual(big);
    });

    it("compares owners and idempotency keys exactly (Alice is not alice)", async () => {
      const tl = open();
      const a = await tl.tasks.enqueue(echo, 1, { description: "a", owner: "Alice", idempotencyKey: "Key" });
      const b = await tl.tasks.enqueue(echo, 2, { description: "b", owner: "alice", idempotencyKey: "Key" });
      const c = await tl.tasks.enqueue(echo, 3, { description: "c", owner: "alice", idempotencyKey: "key" });
      expect(new Set([a.id, b.id, c.id]).size).toBe(3);
      expect((await tl.tasks.list({ owner: "Alice" })).map((t) => t.id)).toEqual([a.id]);
      expect((await tl.tasks.list({ owner: "alice" })).map((t) => t.id)).toEqual([c.id, b.id]);
      expect(await tl.tasks.get(a.id, { owner: "alice" })).toBeUndefined();
    });

    it("reads ids, times and counts as numbers", async () => {
      const tl = open();
      const task = await tl.tasks.enqueue(echo, 1, { description: "n" });
      const read = (await tl.tasks.get(task.id))!;
      expect(typeof read.id).toBe("number");
      expect(read.createdAt).toBeInstanceOf(Date);
      expect(Number.isFinite(read.createdAt.getTime())).toBe(true);
      const status = await tl.status();
      expect(status.counts).toContainEqual(
        expect.objectContaining({ queue: "default", status: "queued", count: 1 }),
      );
      expect(typeof (await tl.notifications.lastId())).toBe("number");
    });

    it("gives each row of a multi-row insert its own id, while another connection inserts between", async () => {
      const tl = open();
      await tl.migrate();
      const other = openDatabase(url);
      try {
        const rt = runtimeOf(tl);
        const row = (n: number) => ({
          name: "echo",
          description: `other ${n}`,
          owner: "bob",
          queue: "default",
          priority: 0,
          status: "queued" as const,
          payload: String(n),
          maxAttempts: 1,
          retry: "0",
          timeoutMs: 1000,
          reservedAt: null,
        });
        let stop = false;
        const interleaving = (async () => {
          for (let n = 0; !stop; n++) await insertTasks(other.db, [row(n)], Date.now());
        })();
        const batches = await Promise.all(
          Array.from({ length: 4 }, (_, b) =>
            tl.tasks.enqueueMany(
              Array.from({ length: 300 }, (_, i) => ({
                task: echo,
                payload: b * 1000 + i,
                options: { description: `batch ${b}`, owner: "alice" },
              })),
            ),
          ),
        );
        stop = true;
        await interleaving;
        const ids = batches.flat().map((t) => t.id);
        expect(new Set(ids).size).toBe(1200);
        // Every returned task is the row stored under its id.
        for (const task of batches.flat()) {
          const stored = await rt.db
            .selectFrom("tasks")
            .select(["payload", "owner"])
            .where("id", "=", task.id)
            .executeTakeFirstOrThrow();
          expect(JSON.parse(stored.payload)).toBe(task.payload);
          expect(stored.owner).toBe("alice");
        }
      } finally {
        await other.close();
      }
    });

    it("removes a schedule's runs with it (a real cascade)", async () => {
      const tl = open();
      const schedule = await tl.schedules.schedule({
        key: "tick",
        task: echo,
        payload: 1,
        description: "t",
        every: 60_000,
      });
      const rt = runtimeOf(tl);
      const now = Date.now();
      await insertTasks(
        rt.db,
        [1, 2].map((n) => ({
          name: "echo",
          description: `run ${n}`,
          owner: null,
          queue: "default",
          priority: 0,
          status: "queued" as const,
          payload: "1",
          maxAttempts: 1,
          retry: "0",
          timeoutMs: 1000,
          reservedAt: null,
          scheduleId: schedule.id,
          slotAt: now + n,
        })),
        now,
      );
      expect(await tl.schedules.runs("tick")).toHaveLength(2);
      // The database's own cascade, not the library's cleanup: delete the row directly.
      await rt.db.deleteFrom("scheduled_tasks").where("id", "=", schedule.id).execute();
      const { rows } = await sql<{
        n: number;
      }>`select count(*) as n from tasks where schedule_id is not null`.execute(rt.db);
      expect(Number(rows[0]!.n)).toBe(0);
    });

    it("gives a lease to exactly one of many processes asking at once, and to another once it lapses", async () => {
      const tl = open();
      await tl.migrate();
      const databases = Array.from({ length: 6 }, () => openDatabase(url));
      try {
        const now = Date.now();
        const won = await Promise.all(
          databases.map((d, i) => holdLease(d.db, "scheduler", `p${i}`, now, 1_000)),
        );
        expect(won.filter(Boolean)).toHaveLength(1);
        const holder = won.indexOf(true);
        // The holder renews; the others still cannot take it; after it lapses, another can.
        expect(await holdLease(databases[holder]!.db, "scheduler", `p${holder}`, now + 500, 1_000)).toBe(
          true,
        );
        const other = (holder + 1) % databases.length;
        expect(await holdLease(databases[other]!.db, "scheduler", `p${other}`, now + 1_000, 1_000)).toBe(
          false,
        );
        expect(await holdLease(databases[other]!.db, "scheduler", `p${other}`, now + 1_501, 1_000)).toBe(
          true,
        );
      } finally {
        for (const d of databases) await d.close();
      }
    });

    if (dialect.name !== "sqlite") {
      it("with no engine configured: reads work; enqueue and workers are refused, saying what to configure", async () => {
        const tl = open({ engine: undefined });
        await tl.migrate();
        expect(await tl.tasks.list()).toEqual([]);
        expect(tl.ledger).toMatchObject({ dialect: dialect.name, engine: "none" });
        const refused = await tl.tasks.enqueue(echo, 1, { description: "x" }).catch((e) => e);
        expect(refused).toBeInstanceOf(TaskledgerError);
        expect(refused).toMatchObject({ code: "unavailable", field: "engine" });
        expect(refused.message).toMatch(/TASKLEDGER_REDIS_URL/);
        // Nothing half-written: no task, no notification.
        const rt = runtimeOf(tl);
        const { rows } = await sql<{
          n: number;
        }>`select (select count(*) from tasks) + (select count(*) from notifications) as n`.execute(rt.db);
        expect(Number(rows[0]!.n)).toBe(0);
        await expect(tl.createWorker().start()).rejects.toMatchObject({
          code: "unavailable",
          field: "engine",
        });
        expect(() => open({ engine: "embedded" })).toThrow(/SQLite ledger only/);
      });
    }
  });
}
