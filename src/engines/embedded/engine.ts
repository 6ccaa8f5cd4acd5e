import { type Kysely, sql } from "kysely";
import type { Claim, ClaimRequest, Engine, ExpiredClaim } from "../../engine/contract.js";
import { statement, statementsBySize } from "../../ledger/compiled.js";
import type { Database } from "../../ledger/database.js";
import { runMigrations } from "../../ledger/migrations.js";
import { embeddedMigrations } from "./schema.js";
import { subscribeWake, wake } from "./wake.js";

/**
 * The embedded engine: the ledger is the queue. A waiting task's own row in `tasks` is its queue
 * entry (queue, priority, `run_at`), so an enqueue writes one row and nothing beside it. A claim
 * reads the next ids from the `tasks_queue` index inside the worker's `BEGIN IMMEDIATE`
 * transaction, and the ledger's start of those attempts, in the same transaction, makes them
 * `running` under the worker's lease (`worker_id`, `lease_expires_at`): atomic across every
 * process on the file. The outcome write takes the row out of the queue — so `push`, `ack`,
 * `discard` and `requestCancel` have nothing left to write. Reservations become claimable once
 * the worker has shown them `queued` at their time. Workers wake on work — in-process by an
 * event, across processes by watching the WAL file.
 *
 * These statements name the ledger's columns but never call into the ledger: the engine stays a
 * mover of ids.
 */
export function createEmbeddedEngine(database: Database): Engine {
  const db = database.db as unknown as Kysely<any>;

  return {
    name: "embedded",

    async migrate() {
      await runMigrations(db, embeddedMigrations(), "taskledger_embedded_migrations");
    },

    // The ledger's row carries queue, priority and run_at: nothing more to write.
    async push() {},

    async claim(tx, request: ClaimRequest) {
      const claims: Claim[] = [];
      for (const queue of request.queues) {
        const want = request.limit - claims.length;
        if (want <= 0) break;
        const { rows } = await claimRows.execute<{ id: number; attempts: number }>(tx, [
          queue,
          request.now,
          want,
        ]);
        // The attempt the ledger is about to start.
        for (const row of rows) claims.push({ id: Number(row.id), attempt: Number(row.attempts) + 1 });
      }
      return claims;
    },

    // The outcome written to the row took it out of the queue and out of the running leases.
    async ack() {},

    // The ledger's settle put the row back in `queued` with its new run_at: it is its own queue entry.
    async retryAt() {},

    // A task that will never run is no longer `queued`: nothing claims it.
    async discard() {},

    // The ledger's `cancel_requested_at` is the request; `cancelRequested` reads it.
    async requestCancel() {},

    async cancelRequested(worker) {
      const { rows } = await cancelRequestedRows.execute<{ id: number }>(db, [worker]);
      return rows.map((r) => Number(r.id));
    },

    async expired(tx, now, limit) {
      const { rows } = await expiredRows.execute<{ id: number; attempts: number; worker_id: string | null }>(
        tx,
        [now, limit],
      );
      return rows.map(
        (r): ExpiredClaim => ({
          id: Number(r.id),
          attempt: Number(r.attempts),
          worker: r.worker_id ?? "unknown",
        }),
      );
    },

    async nextRunAt(queues) {
      if (queues.length === 0) return null;
      const { rows } = await nextRunAtRow(queues.length).execute<{ next: number | null }>(db, queues);
      const next = rows[0]?.next;
      return next === null || next === undefined ? null : Number(next);
    },

    notify() {
      wake(database.identity);
    },

    onWake(listener) {
      return subscribeWake(database.identity, database.file, listener);
    },

    async close() {},
  };
}

// The engine's statements, built once (see ledger/compiled.ts).

/**
 * Args: queue, now, limit. Walks `tasks_queue` in its order — (queue, 'queued') then priority,
 * run_at, id — and stops at the limit. A read: the claim is the caller's write transaction
 * (`BEGIN IMMEDIATE`, so no other process claims meanwhile), in which the ledger's start of
 * these attempts makes them `running` under this worker's lease.
 */
const claimRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select(["id", "attempts"])
    .where("queue", "=", arg(0))
    .where("status", "=", sql.lit("queued"))
    .where("run_at", "<=", arg(1))
    .orderBy("priority", "desc")
    .orderBy("run_at")
    .orderBy("id")
    .limit(arg(2)),
);

const cancelRequestedRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select("id")
    .where("worker_id", "=", arg(0))
    .where("status", "=", sql.lit("running"))
    .where("cancel_requested_at", "is not", null),
);

const expiredRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select(["id", "attempts", "worker_id"])
    .where("status", "=", sql.lit("running"))
    .where("lease_expires_at", "<", arg(0))
    .orderBy("lease_expires_at")
    .limit(arg(1)),
);

/**
 * The soonest time a task of these queues becomes claimable: a queued task's run_at (a retry's
 * later time; due ones were claimed already), or the next reservation, read in `tasks_reserved`
 * order. Args: the queues (each bound in both halves).
 */
const nextRunAtRow = statementsBySize((db, arg, size) => {
  const queues = () => Array.from({ length: size }, (_, i) => arg(i));
  const queued = db
    .selectFrom("tasks")
    .select((eb: any) => eb.fn.min("run_at").as("at"))
    .where("queue", "in", queues())
    .where("status", "=", sql.lit("queued"));
  const reserved = db
    .selectFrom(
      db
        .selectFrom("tasks")
        .select("reserved_at as at")
        .where("status", "=", sql.lit("reserved"))
        .where("queue", "in", queues())
        .orderBy("reserved_at")
        .limit(1)
        .as("soonest"),
    )
    .select("soonest.at");
  return db
    .selectFrom(queued.unionAll(reserved).as("due"))
    .select((eb: any) => eb.fn.min("due.at").as("next"));
});
