import { sql } from "kysely";
import type { Delivery } from "../engine/contract.js";
import { statement, statementsBySize } from "./compiled.js";
import type { Db } from "./ledger.js";
import { toDelivery } from "./rows.js";
import type { TaskRow } from "./schema.js";

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
  const { rows } = await dueRows.execute<DeliveryColumns>(db, [queue, now, limit]);
  return rows.map(toDelivery);
}

/** What a delivery is made of (`toDelivery`). */
const DELIVERY_COLUMNS = [
  "id",
  "attempts",
  "queue",
  "priority",
  "run_at",
  "reserved_at",
  "created_at",
] as const;
type DeliveryColumns = Pick<TaskRow, (typeof DELIVERY_COLUMNS)[number]>;

const dueRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select(DELIVERY_COLUMNS)
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
    .select(DELIVERY_COLUMNS)
    .where("status", "in", ["queued", "reserved"])
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map(toDelivery);
}

/**
 * The waiting tasks whose row changed in `[from, to)` (`updated_at`, epoch ms), as deliveries of
 * their next attempt, in id order from `afterId`: what the relay hands again between its deep
 * passes. Every write that makes a row wait (enqueue, retry, requeue) sets `updated_at`.
 */
export async function changedWaitingDeliveries(
  db: Db,
  from: number,
  to: number,
  afterId: number,
  limit: number,
): Promise<Delivery[]> {
  const { rows } = await changedWaitingRows.execute<DeliveryColumns>(db, [from, to, afterId, limit]);
  return rows.map(toDelivery);
}

/** Args: from, to, afterId, limit. */
const changedWaitingRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select(DELIVERY_COLUMNS)
    .where("status", "in", [sql.lit("queued"), sql.lit("reserved")])
    .where("updated_at", ">=", arg(0))
    .where("updated_at", "<", arg(1))
    .where("id", ">", arg(2))
    .orderBy("id")
    .limit(arg(3)),
);
