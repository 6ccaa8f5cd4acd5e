import type { ExpressionBuilder, Kysely } from "kysely";
import type { Claim, ClaimRequest, Engine, ExpiredClaim, Tx } from "../../engine/contract.js";
import { chunkSizes, statement, statementsBySize } from "../../ledger/compiled.js";
import type { Database } from "../../ledger/database.js";
import { runMigrations } from "../../ledger/migrations.js";
import { type EngineDatabase, embeddedMigrations } from "./schema.js";
import { subscribeWake, wake } from "./wake.js";

/**
 * The embedded engine: the queue is a table (`queue_jobs`) in the ledger's own SQLite file, so a
 * task row and its queue entry are written in one transaction. Claims are one
 * `UPDATE … RETURNING` inside `BEGIN IMMEDIATE`: atomic across every process on the file.
 * Workers wake on work — in-process by an event, across processes by watching the WAL file.
 */
export function createEmbeddedEngine(database: Database): Engine {
  const db = database.db as unknown as Kysely<EngineDatabase>;
  const t = (tx: Tx) => tx as unknown as Kysely<EngineDatabase>;

  return {
    name: "embedded",

    async migrate() {
      await runMigrations(db, embeddedMigrations(), "taskledger_embedded_migrations");
    },

    async push(tx, jobs) {
      let offset = 0;
      for (const size of chunkSizes(jobs.length, CHUNK)) {
        const args: unknown[] = [];
        for (const job of jobs.slice(offset, offset + size))
          args.push(job.id, job.queue, job.priority, job.runAt);
        await pushRows(size).execute(tx, args);
        offset += size;
      }
    },

    async claim(tx, request: ClaimRequest) {
      const claims: Claim[] = [];
      for (const queue of request.queues) {
        const want = request.limit - claims.length;
        if (want <= 0) break;
        const { rows } = await claimRows.execute<{ id: number; attempt: number }>(tx, [
          request.worker,
          request.now + request.leaseMs,
          queue,
          request.now,
          want,
        ]);
        for (const row of rows) claims.push({ id: Number(row.id), attempt: Number(row.attempt) });
      }
      return claims;
    },

    async ack(tx, claims) {
      let offset = 0;
      for (const size of chunkSizes(claims.length, CHUNK)) {
        const args: unknown[] = [];
        for (const claim of claims.slice(offset, offset + size)) args.push(claim.id, claim.attempt);
        await ackRows(size).execute(tx, args);
        offset += size;
      }
    },

    async retryAt(tx, claim, runAt) {
      await retryRow.execute(tx, [claim.id, claim.attempt, runAt]);
    },

    async discard(tx, ids) {
      let offset = 0;
      for (const size of chunkSizes(ids.length, CHUNK)) {
        await discardRows(size).execute(tx, ids.slice(offset, offset + size));
        offset += size;
      }
    },

    async requestCancel(tx, id) {
      await t(tx).updateTable("queue_jobs").set({ cancel_requested: 1 }).where("id", "=", id).execute();
    },

    async cancelRequested(worker) {
      const { rows } = await cancelRequestedRows.execute<{ id: number }>(db, [worker]);
      return rows.map((r) => Number(r.id));
    },

    async extendLeases(worker, until) {
      await extendLeaseRows.execute(db, [worker, until]);
    },

    async expired(tx, now, limit) {
      const rows = await t(tx)
        .selectFrom("queue_jobs")
        .select(["id", "attempt", "lease_owner"])
        .where("lease_owner", "is not", null)
        .where("lease_expires_at", "<", now)
        .orderBy("lease_expires_at")
        .limit(limit)
        .execute();
      return rows.map(
        (r): ExpiredClaim => ({ id: Number(r.id), attempt: Number(r.attempt), worker: r.lease_owner! }),
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

// The engine's statements, built once (see ledger/compiled.ts). SQLite's 32 766 bound parameters
// leave room for chunks of 256 rows.
const CHUNK = 256;
type Eb = ExpressionBuilder<any, any>;

const pushRows = statementsBySize((db, arg, size) =>
  db.insertInto("queue_jobs").values(
    Array.from({ length: size }, (_, i) => ({
      id: arg(4 * i),
      queue: arg(4 * i + 1),
      priority: arg(4 * i + 2),
      run_at: arg(4 * i + 3),
      attempt: 0,
      lease_owner: null,
      lease_expires_at: null,
      cancel_requested: 0,
    })),
  ),
);

/** Args: worker, lease expiry, queue, now, limit. */
const claimRows = statement((db, arg) =>
  db
    .updateTable("queue_jobs")
    .set((eb: Eb) => ({ lease_owner: arg(0), lease_expires_at: arg(1), attempt: eb("attempt", "+", 1) }))
    .where("id", "in", (eb: Eb) =>
      eb
        .selectFrom("queue_jobs")
        .select("id")
        .where("lease_owner", "is", null)
        .where("queue", "=", arg(2))
        .where("run_at", "<=", arg(3))
        .orderBy("priority", "desc")
        .orderBy("run_at")
        .orderBy("id")
        .limit(arg(4)),
    )
    .returning(["id", "attempt"]),
);

/** Fenced by attempt: `CASE id WHEN ? THEN ? …` gives each row its own. */
const ackRows = statementsBySize((db, arg, size) =>
  db
    .deleteFrom("queue_jobs")
    .where(
      "id",
      "in",
      Array.from({ length: size }, (_, i) => arg(2 * i)),
    )
    .where("attempt", "=", (eb: Eb) => {
      let cases: any = eb.case(eb.ref("id"));
      for (let i = 0; i < size; i++) cases = cases.when(arg(2 * i)).then(arg(2 * i + 1));
      return cases.end();
    }),
);

const retryRow = statement((db, arg) =>
  db
    .updateTable("queue_jobs")
    .set({ lease_owner: null, lease_expires_at: null, run_at: arg(2), cancel_requested: 0 })
    .where("id", "=", arg(0))
    .where("attempt", "=", arg(1)),
);

const discardRows = statementsBySize((db, arg, size) =>
  db.deleteFrom("queue_jobs").where(
    "id",
    "in",
    Array.from({ length: size }, (_, i) => arg(i)),
  ),
);

const cancelRequestedRows = statement((db, arg) =>
  db
    .selectFrom("queue_jobs")
    .select("id")
    .where("lease_owner", "=", arg(0))
    .where("cancel_requested", "=", 1),
);

const extendLeaseRows = statement((db, arg) =>
  db
    .updateTable("queue_jobs")
    .set({ lease_expires_at: arg(1) })
    .where("lease_owner", "=", arg(0)),
);

const nextRunAtRow = statementsBySize((db, arg, size) =>
  db
    .selectFrom("queue_jobs")
    .select((eb: Eb) => eb.fn.min("run_at").as("next"))
    .where("lease_owner", "is", null)
    .where(
      "queue",
      "in",
      Array.from({ length: size }, (_, i) => arg(i)),
    ),
);
