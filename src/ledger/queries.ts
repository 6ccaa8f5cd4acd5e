import { type ExpressionBuilder, sql } from "kysely";
import { DISPLAY_STATUSES, type DisplayStatus } from "../core/types.js";
import type { Db } from "./ledger.js";
import type { LedgerDatabase, NotificationRow, TaskRow, WorkerRow } from "./schema.js";

/**
 * Every read of the ledger, by name. `owner: undefined` means any owner (admin views);
 * `owner: null` means system tasks only.
 */
export type OwnerFilter = string | null | undefined;

export interface TaskFilter {
  readonly owner?: OwnerFilter;
  readonly status?: string | readonly string[];
  readonly name?: string;
  readonly queue?: string;
  readonly failed?: boolean;
  /** Statuses as people read them: `finished` succeeded, `failed` finished and failed, `canceled`. */
  readonly displayStatus?: readonly DisplayStatus[];
  readonly scheduleId?: number;
  /** Newest first; `cursor` is the last id of the previous page. */
  readonly cursor?: number;
  readonly limit: number;
}

function byOwner<Q extends { where: (...args: any[]) => Q }>(query: Q, owner: OwnerFilter): Q {
  if (owner === undefined) return query;
  return owner === null ? query.where("owner", "is", null) : query.where("owner", "=", owner);
}

export async function getTask(db: Db, id: number): Promise<TaskRow | undefined> {
  return (await db.selectFrom("tasks").selectAll().where("id", "=", id).executeTakeFirst()) as
    | TaskRow
    | undefined;
}

/** The task an owner's idempotency key names: a null owner matches only owner-less tasks. */
export async function taskByIdempotencyKey(
  db: Db,
  owner: string | null,
  key: string,
): Promise<TaskRow | undefined> {
  return (await byOwner(db.selectFrom("tasks").selectAll(), owner)
    .where("idempotency_key", "=", key)
    .executeTakeFirst()) as TaskRow | undefined;
}

export async function listTasks(db: Db, filter: TaskFilter): Promise<TaskRow[]> {
  let query = byOwner(db.selectFrom("tasks").selectAll(), filter.owner);
  if (filter.status !== undefined) {
    const statuses = typeof filter.status === "string" ? [filter.status] : [...filter.status];
    query = query.where("status", "in", statuses);
  }
  if (filter.name !== undefined) query = query.where("name", "=", filter.name);
  if (filter.queue !== undefined) query = query.where("queue", "=", filter.queue);
  if (filter.failed !== undefined) query = query.where("failed", "=", filter.failed ? 1 : 0);
  const shown = filter.displayStatus;
  if (shown !== undefined) query = query.where((eb) => eb.or(shown.map((s) => isDisplayStatus(eb, s))));
  if (filter.scheduleId !== undefined) query = query.where("schedule_id", "=", filter.scheduleId);
  if (filter.cursor !== undefined) query = query.where("id", "<", filter.cursor);
  return (await query.orderBy("id", "desc").limit(filter.limit).execute()) as TaskRow[];
}

/** A stored finished task is `failed` or `finished` as people read it, by its `failed` flag. */
function isDisplayStatus(eb: ExpressionBuilder<LedgerDatabase, "tasks">, status: DisplayStatus) {
  if (status === "finished" || status === "failed")
    return eb.and([eb("status", "=", "finished"), eb("failed", "=", status === "failed" ? 1 : 0)]);
  return eb("status", "=", status);
}

/** The seeds' "in progress" list: queued or running, oldest first. */
export async function inProgressTasks(db: Db, owner: OwnerFilter, limit: number): Promise<TaskRow[]> {
  return (await byOwner(db.selectFrom("tasks").selectAll(), owner)
    .where("status", "in", ["queued", "running"])
    .orderBy("id", "asc")
    .limit(limit)
    .execute()) as TaskRow[];
}

/**
 * The seeds' "last finished" list, most recently ended first (by `finished_at`, not by id: a
 * task enqueued early may end last). `canceled` adds canceled tasks (the task center's list);
 * each status is read on its own, so finished tasks come from their partial index.
 */
export async function recentFinishedTasks(
  db: Db,
  owner: OwnerFilter,
  limit: number,
  options: { readonly canceled?: boolean } = {},
): Promise<TaskRow[]> {
  const ended = async (status: "finished" | "canceled") =>
    (await byOwner(db.selectFrom("tasks").selectAll(), owner)
      // A literal, so SQLite sees that the partial index of that status (tasks_finished, tasks_canceled) applies.
      .where("status", "=", sql.lit(status))
      .orderBy("finished_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute()) as TaskRow[];
  if (!options.canceled) return ended("finished");
  const rows = [...(await ended("finished")), ...(await ended("canceled"))];
  const endedAt = (row: TaskRow) => Number(row.finished_at ?? 0);
  return rows.sort((a, b) => endedAt(b) - endedAt(a) || Number(b.id) - Number(a.id)).slice(0, limit);
}

/** The seeds' reserved list, soonest first. */
export async function reservedTasks(db: Db, owner: OwnerFilter, limit: number): Promise<TaskRow[]> {
  return (await byOwner(db.selectFrom("tasks").selectAll(), owner)
    .where("status", "=", "reserved")
    .orderBy("reserved_at", "asc")
    .orderBy("id", "asc")
    .limit(limit)
    .execute()) as TaskRow[];
}

export async function notificationsAfter(
  db: Db,
  owner: OwnerFilter,
  afterId: number,
  limit: number,
): Promise<NotificationRow[]> {
  return (await byOwner(db.selectFrom("notifications").selectAll(), owner)
    .where("id", ">", afterId)
    .orderBy("id", "asc")
    .limit(limit)
    .execute()) as NotificationRow[];
}

/** The newest notifications of an owner, newest first (a feed's opening page). */
export async function latestNotifications(
  db: Db,
  owner: OwnerFilter,
  limit: number,
): Promise<NotificationRow[]> {
  return (await byOwner(db.selectFrom("notifications").selectAll(), owner)
    .orderBy("id", "desc")
    .limit(limit)
    .execute()) as NotificationRow[];
}

/**
 * The newest notification `name` of one task (its owner's feed, read from the newest end: the
 * notifications a page asks this for — a retry being waited for — are recent).
 */
export async function latestTaskNotification(
  db: Db,
  owner: OwnerFilter,
  taskId: number,
  name: string,
): Promise<NotificationRow | undefined> {
  return (await byOwner(db.selectFrom("notifications").selectAll(), owner)
    .where("task_id", "=", taskId)
    .where("name", "=", name)
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst()) as NotificationRow | undefined;
}

export async function lastNotificationId(db: Db): Promise<number> {
  const row = await db
    .selectFrom("notifications")
    .select((eb) => eb.fn.max("id").as("id"))
    .executeTakeFirst();
  return Number(row?.id ?? 0);
}

export interface StatusCount {
  readonly queue: string;
  /** As people read it: failed tasks are counted apart from those that finished well. */
  readonly status: DisplayStatus;
  readonly count: number;
}

/**
 * Tasks per queue and status as people read them. The stored (queue, status) counts come from an
 * index alone; the failed are then counted apart from the finished, which reads each finished
 * row (no index holds `failed`): about 50 ms more per 100 000 finished tasks.
 */
export async function countByQueueAndStatus(db: Db, owner: OwnerFilter): Promise<StatusCount[]> {
  const [stored, failed] = await Promise.all([
    byOwner(db.selectFrom("tasks"), owner)
      .select(["queue", "status", (eb) => eb.fn.countAll<number>().as("count")])
      .groupBy(["queue", "status"])
      .execute(),
    byOwner(db.selectFrom("tasks"), owner)
      .select(["queue", (eb) => eb.fn.countAll<number>().as("count")])
      .where("status", "=", "finished")
      .where("failed", "=", 1)
      .groupBy("queue")
      .execute(),
  ]);
  const failedIn = new Map(failed.map((r) => [r.queue, Number(r.count)]));
  const counts: StatusCount[] = [];
  for (const { queue, status, count } of stored) {
    const n = Number(count);
    if (status !== "finished") counts.push({ queue, status: status as DisplayStatus, count: n });
    else {
      const failedHere = failedIn.get(queue) ?? 0;
      if (n > failedHere) counts.push({ queue, status: "finished", count: n - failedHere });
      if (failedHere > 0) counts.push({ queue, status: "failed", count: failedHere });
    }
  }
  const order = (c: StatusCount) => DISPLAY_STATUSES.indexOf(c.status);
  return counts.sort((a, b) => a.queue.localeCompare(b.queue) || order(a) - order(b));
}

/**
 * Tasks waiting for a worker, per queue: queued, or reserved and due (a worker's sweep queues
 * those, so without a worker they wait too).
 */
export async function waitingByQueue(
  db: Db,
  owner: OwnerFilter,
  now: number,
): Promise<{ queue: string; count: number }[]> {
  const rows = await byOwner(db.selectFrom("tasks"), owner)
    .select(["queue", (eb) => eb.fn.countAll<number>().as("count")])
    .where((eb) =>
      eb.or([eb("status", "=", "queued"), eb.and([eb("status", "=", "reserved"), eb("run_at", "<=", now)])]),
    )
    .groupBy("queue")
    .orderBy("queue")
    .execute();
  return rows.map((r) => ({ queue: r.queue, count: Number(r.count) }));
}

export async function listWorkers(db: Db): Promise<WorkerRow[]> {
  return (await db.selectFrom("workers").selectAll().orderBy("started_at").execute()) as WorkerRow[];
}

/** Tasks that may start now (queued or reserved, due) and tasks running: whether there is work left. */
export async function pendingWork(db: Db, now: number): Promise<{ due: number; running: number }> {
  const row = await db
    .selectFrom("tasks")
    .select((eb) => [
      eb.fn
        .sum<number>(
          eb
            .case()
            .when(eb.and([eb("status", "in", ["queued", "reserved"]), eb("run_at", "<=", now)]))
            .then(1)
            .else(0)
            .end(),
        )
        .as("due"),
      eb.fn.sum<number>(eb.case().when("status", "=", "running").then(1).else(0).end()).as("running"),
    ])
    .where("status", "in", ["queued", "reserved", "running"])
    .executeTakeFirst();
  return { due: Number(row?.due ?? 0), running: Number(row?.running ?? 0) };
}
