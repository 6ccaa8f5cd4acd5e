import { type ExpressionBuilder, type Kysely, sql } from "kysely";
import type { NotificationName } from "../core/types.js";
import { capabilitiesOf, typedInteger, typedText } from "./capabilities.js";
import { batchInserts, CHUNK, chunkSizes, statement, statementsBySize } from "./compiled.js";
import { lockedUpdate, updateReturns } from "./returning.js";
import type { LedgerDatabase, NotificationRow, TaskRow } from "./schema.js";

/**
 * Every write to the ledger, by name. Each takes the database or an open transaction, so the
 * caller decides the unit of work; each returns the notification rows it wrote so the caller
 * can publish them live once the transaction commits.
 *
 * Outcome writes are fenced: they match `status = 'running' AND attempts = N`, so a worker
 * whose attempt was taken from it (lease expired, task requeued) cannot overwrite a newer one.
 */
export type Db = Kysely<LedgerDatabase>;

export interface NewTask {
  readonly name: string;
  readonly description: string;
  readonly owner: string | null;
  readonly queue: string;
  readonly priority: number;
  readonly status: "queued" | "reserved";
  readonly payload: string;
  readonly maxAttempts: number;
  readonly retry: string;
  readonly timeoutMs: number;
  readonly reservedAt: number | null;
  readonly scheduleId?: number | null;
  readonly slotAt?: number | null;
  readonly idempotencyKey?: string | null;
}

export interface NewNotification {
  readonly owner: string | null;
  readonly name: NotificationName | (string & {});
  readonly taskId: number | null;
  readonly data: Record<string, unknown>;
}

export type Outcome =
  | { readonly kind: "success"; readonly id: number; readonly attempts: number; readonly result: string }
  | {
      readonly kind: "failure";
      readonly id: number;
      readonly attempts: number;
      readonly log: string;
      /** Set when another attempt follows: the task goes back to `queued` until then. */
      readonly retryAt: number | null;
    }
  | { readonly kind: "canceled"; readonly id: number; readonly attempts: number; readonly log: string }
  /**
   * The attempt is given back unfinished (its worker shut down before it ended): the task is
   * `queued` again at once and the attempt does not count against `max_attempts`.
   */
  | { readonly kind: "released"; readonly id: number; readonly attempts: number; readonly log: string };

export interface Written<T> {
  readonly value: T;
  readonly notifications: NotificationRow[];
}

/**
 * Status guards written as `not in`: SQLite, given `status = 'running'` (or `in ('queued', …)`)
 * beside an id list, prefers the status index and scans every running (or queued) row. The
 * statuses are a closed set, so these mean exactly "running" and "waiting". Statuses in the hot
 * statements are SQL literals (`sql.lit`), not bound parameters: SQLite plans with constants, and
 * uses a partial index only when the query's WHERE provably implies the index's.
 */
const NOT_RUNNING = ["reserved", "queued", "finished", "canceled"].map((s) => sql.lit(s));
const NOT_WAITING = ["running", "finished", "canceled"].map((s) => sql.lit(s));

/** The columns a new task row binds, in the order of `taskValues`. */
const TASK_COLUMNS = [
  "name",
  "description",
  "owner",
  "queue",
  "priority",
  "status",
  "payload",
  "max_attempts",
  "retry",
  "timeout_ms",
  "reserved_at",
  "schedule_id",
  "slot_at",
  "created_at",
  "updated_at",
  "run_at",
  "idempotency_key",
] as const;

const taskValues = (r: TaskRow): unknown[] => [
  r.name,
  r.description,
  r.owner,
  r.queue,
  r.priority,
  r.status,
  r.payload,
  r.max_attempts,
  r.retry,
  r.timeout_ms,
  r.reserved_at,
  r.schedule_id,
  r.slot_at,
  r.created_at,
  r.updated_at,
  r.run_at,
  r.idempotency_key,
];

const insertTaskRows = batchInserts("tasks", TASK_COLUMNS, { failed: "0", progress: "0", attempts: "0" });

export async function insertTasks(db: Db, tasks: readonly NewTask[], now: number): Promise<TaskRow[]> {
  const rows: TaskRow[] = tasks.map((t) => ({
    id: 0,
    name: t.name,
    description: t.description,
    owner: t.owner,
    queue: t.queue,
    priority: t.priority,
    status: t.status,
    failed: 0,
    progress: 0,
    payload: t.payload,
    result: null,
    log: null,
    attempts: 0,
    max_attempts: t.maxAttempts,
    retry: t.retry,
    timeout_ms: t.timeoutMs,
    reserved_at: t.reservedAt,
    schedule_id: t.scheduleId ?? null,
    slot_at: t.slotAt ?? null,
    cancel_requested_at: null,
    created_at: now,
    updated_at: now,
    started_at: null,
    finished_at: null,
    run_at: t.reservedAt ?? now,
    worker_id: null,
    lease_expires_at: null,
    idempotency_key: t.idempotencyKey ?? null,
    no_return_at: null,
    no_return_reason: null,
  }));
  const ids = await insertTaskRows(db, rows.map(taskValues));
  rows.forEach((row, i) => {
    row.id = ids[i]!;
  });
  return rows;
}

const insertNoteRows = batchInserts("notifications", ["owner", "name", "task_id", "data", "created_at"]);

export async function insertNotifications(
  db: Db,
  notes: readonly NewNotification[],
  now: number,
): Promise<NotificationRow[]> {
  const rows: NotificationRow[] = notes.map((n) => ({
    id: 0,
    owner: n.owner,
    name: n.name,
    task_id: n.taskId,
    data: JSON.stringify(n.data),
    created_at: now,
  }));
  const ids = await insertNoteRows(
    db,
    rows.map((r) => [r.owner, r.name, r.task_id, r.data, r.created_at]),
  );
  rows.forEach((row, i) => {
    row.id = ids[i]!;
  });
  return rows;
}

/** Write `notes` now, or add them to `deferred` for the caller to write with others in one statement. */
async function writeOrDefer(
  db: Db,
  notes: readonly NewNotification[],
  now: number,
  deferred: NewNotification[] | undefined,
): Promise<NotificationRow[]> {
  if (!deferred) return insertNotifications(db, notes, now);
  deferred.push(...notes);
  return [];
}

const progressNote = (row: Pick<TaskRow, "id" | "owner" | "status">, progress: number, extra = {}) => ({
  owner: row.owner,
  name: "task_progress" as const,
  taskId: row.id,
  data: { taskId: row.id, progress, status: row.status, ...extra },
});

/**
 * Delivered attempts start (the seeds' `@background_task` entry): `running`, progress 0,
 * attempts + 1, held by `worker` until `leaseUntil` (renewed by its heartbeats). The fenced
 * start: a row starts only at the attempt its delivery names (`attempts = attempt - 1`), while
 * it waits (queued, or a due reservation) and is due (`run_at <= now`) — so a duplicate, stale
 * or ghost delivery starts nothing, and rows canceled meanwhile are left alone. Returns the rows
 * that started. With `deferred`, their notifications are added to it for the caller to write
 * with others in one statement (a worker's round), instead of written here.
 */
export async function startAttempts(
  db: Db,
  deliveries: readonly { readonly id: number; readonly attempt: number }[],
  now: number,
  holder: { readonly worker: string; readonly leaseUntil: number },
  deferred?: NewNotification[],
): Promise<Written<TaskRow[]>> {
  if (deliveries.length === 0) return { value: [], notifications: [] };
  const rows: TaskRow[] = [];
  let offset = 0;
  for (const size of chunkSizes(deliveries.length, CHUNK)) {
    const chunk = deliveries.slice(offset, offset + size);
    if (updateReturns(db)) {
      const args: unknown[] = [now, holder.worker, holder.leaseUntil];
      for (const d of chunk) args.push(d.id, d.attempt - 1);
      rows.push(...(await startRows(size).execute<TaskRow>(db, args)).rows);
    } else {
      const at = chunk.map((d) => ({ id: d.id, attempts: d.attempt - 1 }));
      rows.push(
        ...(await lockedUpdate<TaskRow>(
          db,
          "tasks",
          startWhere(db, at, now),
          startSet(now, holder.worker, holder.leaseUntil),
        )),
      );
    }
    offset += size;
  }
  const notes = rows.map((row) => progressNote(row, 0));
  return { value: rows, notifications: await writeOrDefer(db, notes, now, deferred) };
}

const startSet =
  (now: unknown, worker: unknown, leaseUntil: unknown) => (eb: ExpressionBuilder<any, any>) => ({
    status: "running",
    progress: 0,
    attempts: eb("attempts", "+", 1),
    started_at: now,
    updated_at: now,
    worker_id: worker,
    lease_expires_at: leaseUntil,
    no_return_at: null,
    no_return_reason: null,
  });

const startWhere = (db: Db, rows: readonly AtAttempt[], now: unknown) => (query: any) =>
  query
    .where((eb: ExpressionBuilder<any, any>) => atAttempts(db, eb, rows))
    .where("status", "not in", NOT_WAITING)
    .where("run_at", "<=", now);

/** Args: now, worker, lease until, then (id, attempts before the start) per delivery. */
const startRows = statementsBySize((db, arg, size) => {
  const rows = Array.from({ length: size }, (_, i) => ({ id: arg(3 + 2 * i), attempts: arg(4 + 2 * i) }));
  return startWhere(
    db,
    rows,
    arg(0),
  )(db.updateTable("tasks").set(startSet(arg(0), arg(1), arg(2)))).returningAll();
});

/** Progress of a running attempt; ignored (returns null) when the attempt is no longer current. */
export async function recordProgress(
  db: Db,
  id: number,
  attempts: number,
  progress: number,
  data: Record<string, unknown> | undefined,
  now: number,
): Promise<Written<TaskRow | null>> {
  const [row] = await updateTask(
    db,
    (q) => q.where("id", "=", id).where("attempts", "=", attempts).where("status", "=", sql.lit("running")),
    { progress, updated_at: now },
  );
  if (!row) return { value: null, notifications: [] };
  const notifications = await insertNotifications(
    db,
    [progressNote(row, progress, data ? { data } : {})],
    now,
  );
  return { value: row, notifications };
}

/** An outcome that was current and so was written, with the row as it now stands. */
export interface SettledRow {
  readonly outcome: Outcome;
  readonly row: TaskRow;
}

/**
 * Record attempt outcomes (the seeds' `@background_task` exit): result or log, status, progress
 * 100, the notifications, and for a schedule's run the schedule's status. Returns the outcomes
 * that were current and so were written, in the order of `outcomes`; a stale one (its attempt
 * was taken away) writes nothing. Final outcomes of one kind are written by one statement; a
 * retry or a release (rare) by its own, since a cancel requested during the attempt wins over it.
 * A task going back to `queued` gets its `run_at` here: when it may run again is the ledger's.
 * With `deferred`, the notifications are added to it instead of written (as `startAttempts`).
 */
export async function settleOutcomes(
  db: Db,
  outcomes: readonly Outcome[],
  now: number,
  deferred?: NewNotification[],
): Promise<Written<SettledRow[]>> {
  const written = new Map<Outcome, TaskRow>();
  const finals = new Map<string, Outcome[]>();
  for (const outcome of outcomes) {
    if ((outcome.kind === "failure" && outcome.retryAt !== null) || outcome.kind === "released") {
      const row = await settleRequeue(db, outcome, now);
      if (row) written.set(outcome, row);
      continue;
    }
    const key = outcome.kind === "failure" ? "failed" : outcome.kind;
    const group = finals.get(key);
    if (group) group.push(outcome);
    else finals.set(key, [outcome]);
  }
  for (const [key, group] of finals) {
    const final = FINAL[key as keyof typeof FINAL];
    for (const batch of distinctIdBatches(group)) {
      let offset = 0;
      for (const size of chunkSizes(batch.length, CHUNK)) {
        const chunk = batch.slice(offset, offset + size);
        const rows = await settleFinal(db, final, chunk, now);
        const byId = new Map(rows.map((row) => [Number(row.id), row]));
        for (const o of chunk) {
          const row = byId.get(o.id);
          if (row) written.set(o, row);
        }
        offset += size;
      }
    }
  }
  const applied: SettledRow[] = [];
  const notes: NewNotification[] = [];
  for (const outcome of outcomes) {
    const row = written.get(outcome);
    if (!row) continue;
    applied.push({ outcome, row });
    if (row.status === "queued") {
      notes.push({
        owner: row.owner,
        name: "task_retry",
        taskId: row.id,
        data: {
          taskId: row.id,
          attempts: row.attempts,
          retryAt: new Date(Number(row.run_at)).toISOString(),
          ...(outcome.kind === "released" ? { released: true } : {}),
        },
      });
    } else {
      notes.push(progressNote(row, 100), terminalNote(row));
    }
  }
  await recordScheduleRuns(
    db,
    applied.map((a) => a.row),
    now,
  );
  return { value: applied, notifications: await writeOrDefer(db, notes, now, deferred) };
}

/**
 * A schedule's status follows its latest finished run (the seeds' `ScheduledTask.status`):
 * `failed` after a failed run, `running` again after a successful one. Written with the
 * outcomes, in the same transaction.
 */
async function recordScheduleRuns(db: Db, rows: readonly TaskRow[], now: number): Promise<void> {
  const latest = new Map<number, TaskRow>();
  for (const row of rows) {
    if (row.schedule_id === null || row.status !== "finished") continue;
    const id = Number(row.schedule_id);
    const seen = latest.get(id);
    if (!seen || Number(seen.slot_at ?? 0) <= Number(row.slot_at ?? 0)) latest.set(id, row);
  }
  if (latest.size === 0) return;
  const failed: number[] = [];
  const succeeded: number[] = [];
  for (const [id, row] of latest) (Number(row.failed) === 1 ? failed : succeeded).push(id);
  if (failed.length > 0) {
    await db
      .updateTable("scheduled_tasks")
      .set({ status: "failed", updated_at: now })
      .where("id", "in", failed)
      .where("status", "=", "running")
      .execute();
  }
  if (succeeded.length > 0) {
    await db
      .updateTable("scheduled_tasks")
      .set({ status: "running", updated_at: now })
      .where("id", "in", succeeded)
      .where("status", "=", "failed")
      .execute();
  }
}

const FINAL = {
  success: { status: "finished", failed: 0, column: "result" },
  failed: { status: "finished", failed: 1, column: "log" },
  canceled: { status: "canceled", failed: 1, column: "log" },
} as const;

/** Outcomes grouped so that no id appears twice in one statement (its CASE would match the first). */
function distinctIdBatches(outcomes: readonly Outcome[]): Outcome[][] {
  const batches: { ids: Set<number>; outcomes: Outcome[] }[] = [];
  for (const outcome of outcomes) {
    let batch = batches.find((b) => !b.ids.has(outcome.id));
    if (!batch) {
      batch = { ids: new Set(), outcomes: [] };
      batches.push(batch);
    }
    batch.ids.add(outcome.id);
    batch.outcomes.push(outcome);
  }
  return batches.map((b) => b.outcomes);
}

/** `CASE id WHEN ? THEN ? …`: one value per row of a multi-row update. */
function byId(eb: ExpressionBuilder<any, any>, rows: readonly { id: unknown; value: unknown }[]) {
  // Typed loosely: the values are argument slots, bound only when the statement runs.
  let cases: any = eb.case(eb.ref("id"));
  for (const row of rows) cases = cases.when(row.id).then(row.value);
  return cases.end();
}

interface AtAttempt {
  readonly id: unknown;
  readonly attempts: unknown;
}

/** `id IN (…) AND attempts = CASE id WHEN … END`: each row, at its own attempt only (the fence). */
function atAttempts(db: Db, eb: ExpressionBuilder<any, any>, rows: readonly AtAttempt[]) {
  return eb.and([
    eb(
      "id",
      "in",
      rows.map((r) => r.id),
    ),
    eb(
      "attempts",
      "=",
      byId(
        eb,
        rows.map((r) => ({ id: r.id, value: typedInteger(db, r.attempts) })),
      ),
    ),
  ]);
}

type Final = (typeof FINAL)[keyof typeof FINAL];

interface Settled extends AtAttempt {
  readonly text: unknown;
}

const settleSet =
  (
    db: Db,
    column: "result" | "log",
    rows: readonly Settled[],
    status: unknown,
    failed: unknown,
    now: unknown,
  ) =>
  (eb: ExpressionBuilder<any, any>) => ({
    status,
    failed,
    progress: 100,
    [column]: byId(
      eb,
      rows.map((r) => ({ id: r.id, value: typedText(db, r.text) })),
    ),
    finished_at: now,
    updated_at: now,
  });

const settleWhere = (db: Db, rows: readonly AtAttempt[]) => (query: any) =>
  query
    .where((eb: ExpressionBuilder<any, any>) => atAttempts(db, eb, rows))
    .where("status", "not in", NOT_RUNNING);

/** The fenced write of final outcomes: only the current attempt of a running task. */
const settleRowsWith = (column: "result" | "log") =>
  statementsBySize((db, arg, size) => {
    const rows = Array.from({ length: size }, (_, i) => ({
      id: arg(3 + 3 * i),
      attempts: arg(4 + 3 * i),
      text: arg(5 + 3 * i),
    }));
    return settleWhere(
      db,
      rows,
    )(db.updateTable("tasks").set(settleSet(db, column, rows, arg(0), arg(1), arg(2)))).returningAll();
  });
const settleRows = { result: settleRowsWith("result"), log: settleRowsWith("log") };

/** Final outcomes of one kind, distinct ids: the rows they were written to. */
async function settleFinal(
  db: Db,
  final: Final,
  outcomes: readonly Outcome[],
  now: number,
): Promise<TaskRow[]> {
  const rows = outcomes.map((o) => ({
    id: o.id,
    attempts: o.attempts,
    text: o.kind === "success" ? o.result : o.log,
  }));
  if (!updateReturns(db)) {
    return lockedUpdate<TaskRow>(
      db,
      "tasks",
      settleWhere(db, rows),
      settleSet(db, final.column, rows, final.status, final.failed, now),
    );
  }
  const args: unknown[] = [final.status, final.failed, now];
  for (const r of rows) args.push(r.id, r.attempts, r.text);
  return (await settleRows[final.column](rows.length).execute<TaskRow>(db, args)).rows;
}

/**
 * Back to `queued` — for another attempt at `retryAt`, or at once with the attempt given back
 * (released) — unless a cancel was requested meanwhile: then canceled.
 */
async function settleRequeue(
  db: Db,
  outcome: Outcome & { kind: "failure" | "released" },
  now: number,
): Promise<TaskRow | undefined> {
  const released = outcome.kind === "released";
  const runAt = released ? now : (outcome.retryAt ?? now);
  const requeued = updateReturns(db)
    ? (
        await (released ? releaseRow : retryRow).execute<TaskRow>(db, [
          outcome.id,
          outcome.attempts,
          outcome.log,
          now,
          runAt,
        ])
      ).rows
    : await lockedUpdate<TaskRow>(
        db,
        "tasks",
        requeueWhere(outcome.id, outcome.attempts),
        requeueSet(released, outcome.log, now, runAt),
      );
  if (requeued[0]) return requeued[0];
  const log = `Canceled while running. ${outcome.log}`;
  const [row] = await settleFinal(db, FINAL.canceled, [{ ...outcome, kind: "canceled", log }], now);
  return row;
}

const requeueSet =
  (giveBack: boolean, log: unknown, now: unknown, runAt: unknown) => (eb: ExpressionBuilder<any, any>) => ({
    status: "queued",
    progress: 0,
    log,
    updated_at: now,
    run_at: runAt,
    ...(giveBack ? { attempts: eb("attempts", "-", 1) } : {}),
  });

const requeueWhere = (id: unknown, attempts: unknown) => (query: any) =>
  query
    .where("id", "=", id)
    .where("attempts", "=", attempts)
    .where("status", "=", sql.lit("running"))
    .where("cancel_requested_at", "is", null);

/** Args: id, attempts, log, now, run_at. */
const requeueRow = (giveBack: boolean) =>
  statement((db, arg) =>
    requeueWhere(
      arg(0),
      arg(1),
    )(db.updateTable("tasks").set(requeueSet(giveBack, arg(2), arg(3), arg(4)))).returningAll(),
  );
const retryRow = requeueRow(false);
const releaseRow = requeueRow(true);

function terminalNote(row: TaskRow): NewNotification {
  const name = row.status === "canceled" ? "task_canceled" : row.failed ? "task_failed" : "task_finished";
  return {
    owner: row.owner,
    name,
    taskId: row.id,
    data: { taskId: row.id, name: row.name, status: row.status, failed: row.failed === 1 },
  };
}

/** Cancel a task that has not started: `reserved`/`queued` → `canceled`, failed (as the seeds). */
export async function cancelWaiting(
  db: Db,
  id: number,
  statuses: readonly ("queued" | "reserved")[],
  log: string,
  now: number,
): Promise<Written<TaskRow | null>> {
  const [row] = await updateTask(db, (q) => q.where("id", "=", id).where("status", "in", statuses), {
    status: "canceled",
    failed: 1,
    progress: 100,
    log,
    finished_at: now,
    updated_at: now,
  });
  if (!row) return { value: null, notifications: [] };
  return {
    value: row,
    notifications: await insertNotifications(db, [progressNote(row, 100), terminalNote(row)], now),
  };
}

/**
 * Mark a running task's cancel as requested; the worker holding it fires its AbortSignal.
 * Null when the task is not running, or its attempt has passed its point of no return.
 */
export async function requestCancel(db: Db, id: number, now: number): Promise<TaskRow | null> {
  const [row] = await updateTask(
    db,
    (q) => q.where("id", "=", id).where("status", "=", "running").where("no_return_at", "is", null),
    { cancel_requested_at: now, updated_at: now },
  );
  return row ?? null;
}

/**
 * The running attempt passes its point of no return (e.g. the mail is about to be handed to the
 * SMTP server): from now on a cancel is refused with `reason`. Null — and nothing written — when
 * the attempt is no longer current or a cancel was requested first: then it must not go on.
 */
export async function passPointOfNoReturn(
  db: Db,
  id: number,
  attempts: number,
  reason: string,
  now: number,
): Promise<TaskRow | null> {
  const [row] = await updateTask(
    db,
    (q) =>
      q
        .where("id", "=", id)
        .where("attempts", "=", attempts)
        .where("status", "=", "running")
        .where("cancel_requested_at", "is", null),
    { no_return_at: now, no_return_reason: reason, updated_at: now },
  );
  return row ?? null;
}

/** Running tasks held by `worker` whose cancel was requested. */
export async function cancelRequested(db: Db, worker: string): Promise<number[]> {
  const { rows } = await cancelRequestedRows.execute<{ id: number }>(db, [worker]);
  return rows.map((r) => Number(r.id));
}

const cancelRequestedRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select("id")
    .where("worker_id", "=", arg(0))
    .where("status", "=", sql.lit("running"))
    .where("cancel_requested_at", "is not", null),
);

/** A running attempt whose lease ran out: its worker stopped renewing it. */
export interface ExpiredAttempt {
  readonly id: number;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly worker: string;
  readonly cancelRequested: boolean;
}

/** Up to `limit` running attempts whose lease ran out before `now`, oldest lease first. */
export async function expiredAttempts(db: Db, now: number, limit: number): Promise<ExpiredAttempt[]> {
  const { rows } = await expiredRows.execute<{
    id: number;
    attempts: number;
    max_attempts: number;
    worker_id: string | null;
    cancel_requested_at: number | null;
  }>(db, [now, limit]);
  return rows.map((r) => ({
    id: Number(r.id),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    worker: r.worker_id ?? "unknown",
    cancelRequested: r.cancel_requested_at !== null,
  }));
}

const expiredRows = statement((db, arg) =>
  db
    .selectFrom("tasks")
    .select(["id", "attempts", "max_attempts", "worker_id", "cancel_requested_at"])
    .where("status", "=", sql.lit("running"))
    .where("lease_expires_at", "<", arg(0))
    .orderBy("lease_expires_at")
    .limit(arg(1)),
);

/** A running attempt, as a worker holds it. */
export interface HeldAttempt {
  readonly id: number;
  readonly attempts: number;
}

/**
 * Renew the leases of the attempts `worker` really holds — each by id and attempt, never every
 * row that names the worker — and return those still held: an attempt missing from the answer
 * was taken from the worker (its lease lapsed and the task was requeued, or it ended).
 */
export async function extendLeases(
  db: Db,
  worker: string,
  attempts: readonly HeldAttempt[],
  until: number,
): Promise<HeldAttempt[]> {
  const kept: HeldAttempt[] = [];
  let offset = 0;
  for (const size of chunkSizes(attempts.length, CHUNK)) {
    const chunk = attempts.slice(offset, offset + size);
    let rows: { id: number; attempts: number }[];
    if (updateReturns(db)) {
      const args: unknown[] = [worker, until];
      for (const a of chunk) args.push(a.id, a.attempts);
      rows = (await extendRows(size).execute<{ id: number; attempts: number }>(db, args)).rows;
    } else {
      rows = await lockedUpdate(db, "tasks", extendWhere(db, chunk, worker), { lease_expires_at: until }, [
        "id",
        "attempts",
      ]);
    }
    for (const row of rows) kept.push({ id: Number(row.id), attempts: Number(row.attempts) });
    offset += size;
  }
  return kept;
}

/** Args: worker, until, then (id, attempts) per attempt. */
const extendRows = statementsBySize((db, arg, size) => {
  const rows = Array.from({ length: size }, (_, i) => ({ id: arg(2 + 2 * i), attempts: arg(3 + 2 * i) }));
  return extendWhere(
    db,
    rows,
    arg(0),
  )(db.updateTable("tasks").set({ lease_expires_at: arg(1) })).returning(["id", "attempts"]);
});

const extendWhere = (db: Db, rows: readonly AtAttempt[], worker: unknown) => (query: any) =>
  query
    .where((eb: ExpressionBuilder<any, any>) => atAttempts(db, eb, rows))
    .where("worker_id", "=", worker)
    .where("status", "not in", NOT_RUNNING);

/**
 * Reservations whose time has come become `queued` (the seeds' scheduler moving a job to its
 * queue): from then on a worker claims them like any queued task. Run before every claim.
 */
export async function promoteDueReservations(db: Db, now: number): Promise<number> {
  const result = await promoteRows.execute(db, [now]);
  return Number(result.numAffectedRows ?? 0);
}

const promoteRows = statement((db, arg) =>
  db
    .updateTable("tasks")
    .set({ status: "queued", updated_at: arg(0) })
    .where("status", "=", sql.lit("reserved"))
    .where("reserved_at", "<=", arg(0)),
);

export async function upsertWorker(
  db: Db,
  worker: { id: string; host: string; pid: number; queues: readonly string[]; concurrency: number },
  now: number,
): Promise<void> {
  await db
    .insertInto("workers")
    .values({
      id: worker.id,
      host: worker.host,
      pid: worker.pid,
      queues: JSON.stringify(worker.queues),
      concurrency: worker.concurrency,
      started_at: now,
      last_seen_at: now,
    })
    .$call((insert) =>
      capabilitiesOf(db).upsert === "on conflict"
        ? insert.onConflict((oc) => oc.column("id").doUpdateSet({ last_seen_at: now }))
        : insert.onDuplicateKeyUpdate({ last_seen_at: now }),
    )
    .execute();
}

export async function touchWorker(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable("workers").set({ last_seen_at: now }).where("id", "=", id).execute();
}

/** Forget workers not seen since `before` (their tasks were, or will be, taken back by lease). */
export async function removeSilentWorkers(db: Db, before: number): Promise<void> {
  await db.deleteFrom("workers").where("last_seen_at", "<", before).execute();
}

export async function removeWorkers(db: Db, ids: readonly string[]): Promise<void> {
  if (ids.length) await db.deleteFrom("workers").where("id", "in", ids).execute();
}

/**
 * A one-row (or few-row) update of tasks that gives back the rows it changed: `RETURNING` where
 * the database has it, else locked by id, updated and read again (returning.ts).
 */
async function updateTask(
  db: Db,
  where: (query: any) => any,
  set: Record<string, unknown>,
): Promise<TaskRow[]> {
  if (!updateReturns(db)) return lockedUpdate<TaskRow>(db, "tasks", where, set);
  return (await where(db.updateTable("tasks").set(set)).returningAll().execute()) as TaskRow[];
}
