import { sql } from "kysely";
import type { ScheduleStatus } from "../core/types.js";
import { typedInteger } from "./capabilities.js";
import type { Db } from "./ledger.js";
import { lockedUpdate, updateReturns } from "./returning.js";
import { num } from "./rows.js";
import type { ScheduledTaskRow } from "./schema.js";

/**
 * Statements on `scheduled_tasks` (and a schedule's runs). Each takes the database or an open
 * transaction; the caller decides the unit of work.
 */

/** Statuses that fire. */
export const FIRING: readonly ScheduleStatus[] = ["running", "failed"];

export type NewSchedule = Omit<ScheduledTaskRow, "id" | "created_at" | "updated_at">;

export async function getSchedule(db: Db, ref: string | number): Promise<ScheduledTaskRow | undefined> {
  const query = db.selectFrom("scheduled_tasks").selectAll();
  return (await (typeof ref === "number"
    ? query.where("id", "=", ref)
    : query.where("key", "=", ref)
  ).executeTakeFirst()) as ScheduledTaskRow | undefined;
}

export async function getSchedulesByKey(db: Db, keys: readonly string[]): Promise<ScheduledTaskRow[]> {
  const rows: ScheduledTaskRow[] = [];
  for (let i = 0; i < keys.length; i += CHUNK) {
    const part = keys.slice(i, i + CHUNK);
    rows.push(
      ...((await db
        .selectFrom("scheduled_tasks")
        .selectAll()
        .where("key", "in", part)
        .execute()) as ScheduledTaskRow[]),
    );
  }
  return rows;
}

/** Declared schedules that still fire or wait: the ones a `register` list may retire. */
export async function liveDeclaredSchedules(db: Db): Promise<ScheduledTaskRow[]> {
  return (await db
    .selectFrom("scheduled_tasks")
    .selectAll()
    .where("declared", "=", 1)
    .where("status", "!=", "death")
    .execute()) as ScheduledTaskRow[];
}

export interface ScheduleFilter {
  readonly status?: readonly ScheduleStatus[];
  readonly owner?: string | null;
  readonly limit: number;
  /** Keys after this one (pages in key order). */
  readonly after?: string;
}

export async function listSchedules(db: Db, filter: ScheduleFilter): Promise<ScheduledTaskRow[]> {
  let query = db.selectFrom("scheduled_tasks").selectAll();
  if (filter.status) query = query.where("status", "in", [...filter.status]);
  if (filter.owner !== undefined)
    query =
      filter.owner === null ? query.where("owner", "is", null) : query.where("owner", "=", filter.owner);
  if (filter.after !== undefined) query = query.where("key", ">", filter.after);
  return (await query.orderBy("key").limit(filter.limit).execute()) as ScheduledTaskRow[];
}

// SQLite allows 32 766 bound parameters; a schedule row binds 16.
const CHUNK = 400;

export async function insertSchedules(db: Db, rows: readonly NewSchedule[], now: number): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const values = rows.slice(i, i + CHUNK).map((row) => ({ ...row, created_at: now, updated_at: now }));
    await db.insertInto("scheduled_tasks").values(values).execute();
  }
}

export async function updateSchedule(
  db: Db,
  id: number,
  set: Partial<Omit<ScheduledTaskRow, "id" | "created_at">>,
  now: number,
): Promise<ScheduledTaskRow | undefined> {
  const where = (query: any) => query.where("id", "=", id);
  const values = { ...set, updated_at: now };
  if (!updateReturns(db)) {
    const [row] = await lockedUpdate<ScheduledTaskRow>(db, "scheduled_tasks", where, values);
    return row;
  }
  return (await where(db.updateTable("scheduled_tasks").set(values)).returningAll().executeTakeFirst()) as
    | ScheduledTaskRow
    | undefined;
}

export interface Advance {
  readonly id: number;
  readonly nextRunAt: number | null;
  readonly lastRunAt: number | null;
  readonly runCount: number;
}

/** Move fired (or skipped) schedules on, in one statement: a tick may fire hundreds at once. */
export async function advanceSchedules(db: Db, rows: readonly Advance[], now: number): Promise<void> {
  if (rows.length === 0) return;
  const byId = <T>(value: (row: Advance) => T, big: boolean) =>
    sql<T>`case ${sql.ref("id")} ${sql.join(
      rows.map((row) => sql`when ${row.id} then ${typedInteger(db, value(row), big)}`),
      sql` `,
    )} end`;
  await db
    .updateTable("scheduled_tasks")
    .set({
      next_run_at: byId((row) => row.nextRunAt, true),
      last_run_at: byId((row) => row.lastRunAt, true),
      run_count: byId((row) => row.runCount, false),
      updated_at: now,
    })
    .where(
      "id",
      "in",
      rows.map((row) => row.id),
    )
    .execute();
}

export type DueSchedule = ScheduledTaskRow & { busy: number };

/**
 * Firing schedules whose next slot has come, soonest first. `busy` is 1 when the schedule's
 * latest run (the one at `last_run_at`, found through the unique (schedule_id, slot_at) index)
 * is still queued or running.
 */
export async function dueSchedules(db: Db, now: number, limit: number): Promise<DueSchedule[]> {
  const rows = await db
    .selectFrom("scheduled_tasks as s")
    .selectAll("s")
    .select((eb) =>
      eb
        .exists(
          eb
            .selectFrom("tasks as t")
            .select("t.id")
            .whereRef("t.schedule_id", "=", "s.id")
            .whereRef("t.slot_at", "=", "s.last_run_at")
            .where("t.status", "in", ["queued", "running"]),
        )
        .as("busy"),
    )
    .where("s.status", "in", [...FIRING])
    .where("s.paused_at", "is", null)
    .where("s.next_run_at", "<=", now)
    .orderBy("s.next_run_at")
    .limit(limit)
    .execute();
  return rows as unknown as DueSchedule[];
}

/** The soonest slot of any firing schedule, or null. */
export async function nextDueAt(db: Db): Promise<number | null> {
  const row = await db
    .selectFrom("scheduled_tasks")
    .select((eb) => eb.fn.min("next_run_at").as("next"))
    .where("status", "in", [...FIRING])
    .where("paused_at", "is", null)
    .executeTakeFirst();
  return row?.next === null || row?.next === undefined ? null : num(row.next);
}

/** Ids of a schedule's runs that have not ended, by status (to stop them before a delete). */
export async function unfinishedRuns(
  db: Db,
  scheduleId: number,
): Promise<{ id: number; status: string; attempts: number; queue: string }[]> {
  const rows = await db
    .selectFrom("tasks")
    .select(["id", "status", "attempts", "queue"])
    .where("schedule_id", "=", scheduleId)
    .where("status", "in", ["reserved", "queued", "running"])
    .execute();
  return rows.map((r) => ({ id: num(r.id), status: r.status, attempts: num(r.attempts), queue: r.queue }));
}

/** Delete a schedule; its runs go with it (ON DELETE CASCADE). */
export async function deleteSchedule(db: Db, id: number): Promise<void> {
  await db.deleteFrom("scheduled_tasks").where("id", "=", id).execute();
}

export async function countRuns(db: Db, scheduleId: number): Promise<number> {
  const row = await db
    .selectFrom("tasks")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("schedule_id", "=", scheduleId)
    .executeTakeFirst();
  return num(row?.n ?? 0);
}
