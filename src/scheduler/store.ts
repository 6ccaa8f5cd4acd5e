import { sql } from "kysely";
import { decodeJson } from "../core/json.js";
import type { Db } from "../ledger/ledger.js";
import type { ScheduledTaskRow } from "../ledger/schema.js";
import { readSpec } from "./entry.js";
import type { Schedule, SchedulerStatus, ScheduleStatus } from "./types.js";

/**
 * The scheduler's reads and writes: `scheduled_tasks` and the `leases` row of the active
 * scheduler. Each takes the database or an open transaction; the caller decides the unit of work.
 */

const num = (value: number | string): number => (typeof value === "number" ? value : Number(value));
const date = (value: number | string | null): Date | null => (value === null ? null : new Date(num(value)));

/**
 * Reads a row that may hold what this version cannot read (a row written by hand, or by a damaged
 * ledger): such a field comes out null and its name goes to `unreadable`, so one bad row never
 * fails a list.
 */
class RowReader {
  readonly unreadable: string[] = [];

  time(value: number | string | null, field: string): Date | null {
    const time = date(value);
    if (time === null || !Number.isNaN(time.getTime())) return time;
    this.unreadable.push(field);
    return null;
  }

  json(text: string, field: string): unknown {
    try {
      return decodeJson(text);
    } catch {
      this.unreadable.push(field);
      return null;
    }
  }
}

/** Statuses that fire. */
export const FIRING: readonly ScheduleStatus[] = ["running", "failed"];

export type NewSchedule = Omit<ScheduledTaskRow, "id" | "created_at" | "updated_at">;

export function toSchedule(row: ScheduledTaskRow): Schedule {
  const read = new RowReader();
  const spec = readSpec(row.spec);
  if (spec === undefined) read.unreadable.push("spec");
  return {
    id: num(row.id),
    key: row.key,
    name: row.name,
    description: row.description,
    owner: row.owner,
    type: row.type as Schedule["type"],
    payload: read.json(row.payload, "payload"),
    every: spec?.every ?? null,
    startAt: read.time(spec?.startAt ?? null, "startAt"),
    cron: spec?.cron ?? null,
    tz: spec?.tz ?? null,
    repeat: spec?.repeat ?? null,
    overlap: spec?.overlap ?? null,
    queue: spec?.run.queue ?? null,
    timeoutMs: spec?.run.timeoutMs ?? null,
    maxAttempts: spec?.run.maxAttempts ?? null,
    status: row.status as ScheduleStatus,
    declared: num(row.declared) === 1,
    pausedAt: read.time(row.paused_at, "pausedAt"),
    nextRunAt: read.time(row.next_run_at, "nextRunAt"),
    lastRunAt: read.time(row.last_run_at, "lastRunAt"),
    runCount: num(row.run_count),
    createdAt: read.time(row.created_at, "createdAt"),
    updatedAt: read.time(row.updated_at, "updatedAt"),
    unreadable: read.unreadable,
  };
}

/** A schedule as JSON for the API and `--json`: ISO times. */
export function scheduleToJson(schedule: Schedule): Record<string, unknown> {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    ...schedule,
    startAt: iso(schedule.startAt),
    pausedAt: iso(schedule.pausedAt),
    nextRunAt: iso(schedule.nextRunAt),
    lastRunAt: iso(schedule.lastRunAt),
    createdAt: iso(schedule.createdAt),
    updatedAt: iso(schedule.updatedAt),
  };
}

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
  return (await db
    .updateTable("scheduled_tasks")
    .set({ ...set, updated_at: now })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst()) as ScheduledTaskRow | undefined;
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
  const byId = <T>(value: (row: Advance) => T) =>
    sql<T>`case ${sql.ref("id")} ${sql.join(
      rows.map((row) => sql`when ${row.id} then ${value(row)}`),
      sql` `,
    )} end`;
  await db
    .updateTable("scheduled_tasks")
    .set({
      next_run_at: byId((row) => row.nextRunAt),
      last_run_at: byId((row) => row.lastRunAt),
      run_count: byId((row) => row.runCount),
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
export async function unfinishedRuns(db: Db, scheduleId: number): Promise<{ id: number; status: string }[]> {
  const rows = await db
    .selectFrom("tasks")
    .select(["id", "status"])
    .where("schedule_id", "=", scheduleId)
    .where("status", "in", ["reserved", "queued", "running"])
    .execute();
  return rows.map((r) => ({ id: num(r.id), status: r.status }));
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

export const SCHEDULER_LEASE = "scheduler";

/**
 * Take or renew a named lease for `ttl` ms: it goes to `holder` when it holds it already or the
 * current holder's lease has run out. True when `holder` holds it now. One statement, so two
 * processes can never both succeed.
 */
export async function holdLease(
  db: Db,
  name: string,
  holder: string,
  now: number,
  ttl: number,
): Promise<boolean> {
  const row = await db
    .insertInto("leases")
    .values({ name, holder, acquired_at: now, renewed_at: now, expires_at: now + ttl })
    .onConflict((oc) =>
      oc
        .column("name")
        .doUpdateSet((eb) => ({
          holder,
          acquired_at: eb
            .case()
            .when("leases.holder", "=", holder)
            .then(eb.ref("leases.acquired_at"))
            .else(now)
            .end(),
          renewed_at: now,
          expires_at: now + ttl,
        }))
        .where((eb) => eb.or([eb("leases.holder", "=", holder), eb("leases.expires_at", "<=", now)])),
    )
    .returning("holder")
    .executeTakeFirst();
  return row?.holder === holder;
}

/** Give a lease up (clean shutdown), so another process takes over at once. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.deleteFrom("leases").where("name", "=", name).where("holder", "=", holder).execute();
}

export async function readSchedulerStatus(db: Db, now: number): Promise<SchedulerStatus> {
  const row = await db
    .selectFrom("leases")
    .selectAll()
    .where("name", "=", SCHEDULER_LEASE)
    .executeTakeFirst();
  if (!row) return { running: false, holder: null, since: null, lastSeenAt: null, expiresAt: null };
  return {
    running: num(row.expires_at) > now,
    holder: row.holder,
    since: date(row.acquired_at),
    lastSeenAt: date(row.renewed_at),
    expiresAt: date(row.expires_at),
  };
}
