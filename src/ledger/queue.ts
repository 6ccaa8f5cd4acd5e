import { sql } from "kysely";
import type { Delivery } from "../engine/contract.js";
import { statement, statementsBySize } from "./compiled.js";
import type { Db } from "./ledger.js";

/**
 * The embedded engine's queue, which is the ledger itself: a waiting task's row (queue,
 * priority, `run_at`) is its delivery. These statements read it; they write nothing — the
 * ledger's fenced start, in the same transaction, takes the rows.
 */

/**
 * Up to `limit` due tasks of one queue, in the `tasks_queue` index's order (priority, run_at,
 * id), as deliveries of their next attempt. Args: queue, now, limit. Read inside the worker's
 * write transaction (`BEGIN IMMEDIATE`), so no other process takes them meanwhile.
 */
export async function dueDeliveries(db: Db, queue: string, now: number, limit: number): Promise<Delivery[]> {
  const { rows } = await dueRows.execute<{ id: number; attempts: number; priority: number; run_at: number }>(
    db,
    [queue, now, limit],
  );
  return rows.map((row) => ({
    id: Number(row.id),
    attempt: Number(row.attempts) + 1,
    queue,
    priority: Number(row.priority),
    runAt: Number(row.run_at),
  }));
}

const dueRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select(["id", "attempts", "priority", "run_at"])
    .where("queue", "=", arg(0))
    .where("status", "=", sql.lit("queued"))
    .where("run_at", "<=", arg(1))
    .orderBy("priority", "desc")
    .orderBy("run_at")
    .orderBy("id")
    .limit(arg(2)),
);

/**
 * The soonest time a task of these queues may start: a queued task's run_at (a retry's later
 * time; due ones were taken already), or the next reservation, read in `tasks_reserved` order.
 */
export async function nextRunAt(db: Db, queues: readonly string[]): Promise<number | null> {
  if (queues.length === 0) return null;
  const { rows } = await nextRunAtRow(queues.length).execute<{ next: number | null }>(db, queues);
  const next = rows[0]?.next;
  return next === null || next === undefined ? null : Number(next);
}

/** Args: the queues (each bound in both halves). */
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

/**
 * Every waiting task (queued or reserved) as the delivery of its next attempt, in id order from
 * `afterId`: what the relay hands again to an engine outside the ledger.
 */
export async function waitingDeliveries(db: Db, afterId: number, limit: number): Promise<Delivery[]> {
  const rows = await db
    .selectFrom("tasks")
    .select(["id", "attempts", "queue", "priority", "run_at", "reserved_at", "created_at"])
    .where("status", "in", ["queued", "reserved"])
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    id: Number(row.id),
    attempt: Number(row.attempts) + 1,
    queue: row.queue,
    priority: Number(row.priority),
    runAt: Number(row.run_at ?? row.reserved_at ?? row.created_at),
  }));
}
