import { type Expression, type ExpressionBuilder, type SqlBool, sql } from "kysely";
import { statement } from "./compiled.js";
import type { Db } from "./ledger.js";
import { lastNotificationId } from "./queries.js";
import type { LedgerDatabase } from "./schema.js";

/**
 * The statements of retention (the pass is src/maintenance/prune.ts). Each reads or removes one
 * bounded window of rows, found through a primary key: ids follow creation time, so the oldest
 * rows come first and no index beyond the ledger's own is needed. With `dryRun` a removal counts
 * the rows it would remove instead. Query plans (EXPLAIN QUERY PLAN on SQLite):
 *
 * - a window's end: `SEARCH tasks|notifications USING INTEGER PRIMARY KEY (rowid>?)`;
 * - old tasks: `SEARCH tasks USING INDEX tasks_status_id (status=? AND id>? AND id<?)`, only the
 *   ended rows of the window;
 * - old notifications: `SEARCH notifications USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)`;
 * - a schedule's runs: `SEARCH tasks USING [COVERING] INDEX tasks_schedule_slot (schedule_id=? AND slot_at<?)`;
 * - a run's notifications: `SEARCH notifications USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)`,
 *   its bounds found by binary search on the same key;
 * - runs by id: `SEARCH tasks USING INTEGER PRIMARY KEY (rowid=?)`.
 */

/** Only ended tasks are ever removed, whatever their age. */
const ENDED = [sql.lit("finished"), sql.lit("canceled")];

type Table = "tasks" | "notifications";

/** The last row of a window: the `size`-th row after id `after`, or none when fewer rows are left. */
export interface WindowEnd {
  readonly id: number;
  readonly createdAt: number;
}

const windowEnds = {
  tasks: windowEndOf("tasks"),
  notifications: windowEndOf("notifications"),
};

function windowEndOf(table: Table) {
  return statement((db, arg) =>
    db
      .selectFrom(table)
      .select(["id", "created_at"])
      .where("id", ">", arg(0))
      .orderBy("id")
      .limit(1)
      .offset(arg(1)),
  );
}

export async function windowEnd(
  db: Db,
  table: Table,
  after: number,
  size: number,
): Promise<WindowEnd | null> {
  const { rows } = await windowEnds[table].execute<{ id: number; created_at: number }>(db, [after, size - 1]);
  const row = rows[0];
  return row ? { id: Number(row.id), createdAt: Number(row.created_at) } : null;
}

/** Ids in `(after, through]`; `through: null` is the rest of the table. */
export interface IdRange {
  readonly after: number;
  readonly through: number | null;
}

type Where<T extends Table> = (eb: ExpressionBuilder<LedgerDatabase, T>) => Expression<SqlBool>;

async function removeOrCount<T extends Table>(
  db: Db,
  table: T,
  where: Where<T>,
  dryRun: boolean,
): Promise<number> {
  // Typed per table, the select and delete builders take the same condition.
  const condition = where as Where<any>;
  if (dryRun) {
    const row = await db
      .selectFrom(table as Table)
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where(condition)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
  const result = await db
    .deleteFrom(table as Table)
    .where(condition)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

function inRange<T extends Table>(eb: ExpressionBuilder<LedgerDatabase, T>, range: IdRange) {
  const ref = eb.ref("id" as any);
  const conditions = [eb(ref, ">", range.after)];
  if (range.through !== null) conditions.push(eb(ref, "<=", range.through));
  return conditions;
}

/** Finished and canceled tasks of the range that ended before `cutoff`. */
export function removeEndedTasks(db: Db, range: IdRange, cutoff: number, dryRun: boolean): Promise<number> {
  return removeOrCount(
    db,
    "tasks",
    (eb) => eb.and([...inRange(eb, range), eb("status", "in", ENDED), eb("finished_at", "<", cutoff)]),
    dryRun,
  );
}

/** Notifications of the range written before `cutoff`. */
export function removeNotifications(
  db: Db,
  range: IdRange,
  cutoff: number,
  dryRun: boolean,
): Promise<number> {
  return removeOrCount(
    db,
    "notifications",
    (eb) => eb.and([...inRange(eb, range), eb("created_at", "<", cutoff)]),
    dryRun,
  );
}

export async function scheduleIds(db: Db): Promise<number[]> {
  const rows = await db.selectFrom("scheduled_tasks").select("id").orderBy("id").execute();
  return rows.map((row) => Number(row.id));
}

/**
 * The slot of a schedule's newest run beyond the `keep` newest (runs at or before it are past the
 * limit), or null when it has `keep` runs or fewer.
 */
export async function lastSlotPastKeep(db: Db, scheduleId: number, keep: number): Promise<number | null> {
  const row = await db
    .selectFrom("tasks")
    .select("slot_at")
    .where("schedule_id", "=", scheduleId)
    .where("slot_at", "is not", null)
    .orderBy("slot_at", "desc")
    .limit(1)
    .offset(keep)
    .executeTakeFirst();
  return row?.slot_at === null || row?.slot_at === undefined ? null : Number(row.slot_at);
}

export interface RunToRemove {
  readonly id: number;
  readonly slotAt: number;
  readonly createdAt: number;
  readonly finishedAt: number;
}

/**
 * Ended runs of a schedule with a slot in `(afterSlot, throughSlot]` that ended at or after
 * `cutoff` (older ones go with the old tasks), oldest slot first.
 */
export async function endedRuns(
  db: Db,
  scheduleId: number,
  slots: { readonly after: number | null; readonly through: number },
  cutoff: number,
  limit: number,
): Promise<RunToRemove[]> {
  let query = db
    .selectFrom("tasks")
    .select(["id", "slot_at", "created_at", "finished_at"])
    .where("schedule_id", "=", scheduleId)
    .where("slot_at", "<=", slots.through)
    .where("status", "in", ENDED)
    .where("finished_at", ">=", cutoff);
  if (slots.after !== null) query = query.where("slot_at", ">", slots.after);
  const rows = await query.orderBy("slot_at").limit(limit).execute();
  return rows.map((row) => ({
    id: Number(row.id),
    slotAt: Number(row.slot_at),
    createdAt: Number(row.created_at),
    finishedAt: Number(row.finished_at),
  }));
}

const firstNotificationFrom = statement((db, arg) =>
  db
    .selectFrom("notifications")
    .select(["id", "created_at"])
    .where("id", ">=", arg(0))
    .orderBy("id")
    .limit(1),
);

/**
 * The first notification id in `[lo, hi)` written at or after `time` (`hi` when none is): a
 * binary search over the primary key (about 25 lookups for 30 million rows), since `created_at`
 * has no index but grows with the id — writers read the time while holding the write lock.
 */
async function notificationIdAt(db: Db, time: number, lo: number, hi: number): Promise<number> {
  // Invariant: ids below lo were written before `time`; ids from hi at or after it.
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const { rows } = await firstNotificationFrom.execute<{ id: number; created_at: number }>(db, [mid]);
    const found = rows[0];
    if (!found || Number(found.id) >= hi || Number(found.created_at) >= time) hi = mid;
    else lo = Number(found.id) + 1;
  }
  return lo;
}

/**
 * The notifications of these runs written at or after `since` (older ones go with the age rule).
 * There is no index on `task_id`: a run's notifications were written between its creation and
 * its end, so they lie in the id range found by searching the primary key for those two times.
 * Should a clock step back, a bound may land a little off; what it misses is left to the age rule.
 */
export async function removeRunNotifications(
  db: Db,
  runs: readonly RunToRemove[],
  since: number,
  dryRun: boolean,
): Promise<number> {
  if (runs.length === 0) return 0;
  const end = (await lastNotificationId(db)) + 1;
  let removed = 0;
  for (const run of runs) {
    const from = await notificationIdAt(db, run.createdAt, 0, end);
    const to = await notificationIdAt(db, run.finishedAt + 1, from, end);
    removed += await removeOrCount(
      db,
      "notifications",
      (eb) =>
        eb.and([
          eb("id", ">=", from),
          eb("id", "<", to),
          eb("task_id", "=", run.id),
          eb("created_at", ">=", since),
        ]),
      dryRun,
    );
  }
  return removed;
}

/** Tasks by id, only while ended. */
export function removeEndedTasksById(db: Db, ids: readonly number[], dryRun: boolean): Promise<number> {
  if (ids.length === 0) return Promise.resolve(0);
  return removeOrCount(db, "tasks", (eb) => eb.and([eb("id", "in", ids), eb("status", "in", ENDED)]), dryRun);
}
