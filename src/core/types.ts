/**
 * Glossary — the words used everywhere in taskledger.
 *
 * - **task definition**: `defineTask({ name, run })`, the code (the seeds' `@background_task` function).
 * - **task**: one row of the ledger (`tasks` table): a request to run a definition with a payload,
 *   who asked for it (`owner`), where it stands (`status`, `progress`), what it returned (`result`)
 *   and why it failed (`log`). Its id is the engine's job id.
 * - **reservation**: a task that runs at a given time (`reserve`), status `reserved` until due.
 * - **attempt**: one execution of a task by a worker; `attempts` counts them and fences outcomes.
 * - **queue**: a named lane (`high`, `default`, …); workers take from their queues in order.
 * - **engine**: what delivers task ids to workers (embedded SQLite, BullMQ). The ledger owns
 *   everything a human reads; the engine only moves ids.
 * - **worker**: a process loop that claims tasks, runs them and settles their outcome.
 * - **lease**: a worker's time-limited claim on a task, renewed by heartbeats; an expired lease
 *   means the worker died and the sweeper recovers the task.
 * - **notification**: a per-owner feed entry (`task_progress`, `task_reserve`, …), pushed live.
 * - **schedule**: a recurring definition (interval or cron); each run is an ordinary task.
 */

export const TASK_STATUSES = ["reserved", "queued", "running", "finished", "canceled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses from which nothing moves on. */
export const TERMINAL_STATUSES: readonly TaskStatus[] = ["finished", "canceled"];

export type NotificationName =
  | "task_progress"
  | "task_reserve"
  | "task_finished"
  | "task_failed"
  | "task_canceled"
  | "task_retry";

/** A task as the ledger records it. Times are `Date`s; JSON fields are decoded. */
export interface Task<Payload = unknown, Result = unknown> {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly owner: string | null;
  readonly queue: string;
  readonly priority: number;
  readonly status: TaskStatus;
  readonly failed: boolean;
  readonly progress: number;
  readonly payload: Payload;
  readonly result: Result | null;
  readonly log: string | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly reservedAt: Date | null;
  readonly scheduleId: number | null;
  readonly slotAt: Date | null;
  readonly cancelRequestedAt: Date | null;
  /**
   * The caller's key from `enqueue`/`reserve` (`{ idempotencyKey }`): one task per owner and key.
   * Not the per-attempt `ctx.idempotencyKey` a handler gets.
   */
  readonly idempotencyKey: string | null;
  /**
   * When the running attempt passed its point of no return (`ctx.pointOfNoReturn(reason)`), and
   * why: from then on a cancel is refused. Null before, and again when a new attempt starts.
   */
  readonly noReturnAt: Date | null;
  readonly noReturnReason: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

export interface Notification {
  readonly id: number;
  readonly owner: string | null;
  readonly name: NotificationName | (string & {});
  readonly taskId: number | null;
  readonly data: Record<string, unknown>;
  readonly createdAt: Date;
}

export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly startedAt: Date;
  readonly lastSeenAt: Date;
}

/** Result of a cancel: a value, not an exception, so callers decide how to show it (the seeds returned False). */
export type CancelResult =
  | { readonly ok: true; readonly task: Task }
  | { readonly ok: false; readonly reason: string; readonly task?: Task };

/** `running`: fires; `failed`: fires, and its last run failed; `death`: no longer declared, stopped. */
export type ScheduleStatus = "running" | "death" | "failed";

export const SCHEDULE_STATUSES: readonly ScheduleStatus[] = ["running", "death", "failed"];

/**
 * What to do with a slot when the schedule's previous run is still queued or running:
 * `skip` (default) records the slot as a canceled run and fires nothing; `allow` fires anyway.
 */
export type OverlapPolicy = "skip" | "allow";

/**
 * A schedule as the ledger records it. Times are `Date`s; the payload is decoded. A stored field
 * this version cannot read (a row written by hand) is null here and named in `unreadable`; the
 * fields its spec holds (`every` … `maxAttempts`) are all null when `unreadable` has `"spec"`.
 */
export interface Schedule<Payload = unknown> {
  readonly id: number;
  readonly key: string;
  /** The task each run executes. */
  readonly name: string;
  readonly description: string;
  readonly owner: string | null;
  readonly type: "schedule" | "cron";
  readonly payload: Payload;
  /** Interval schedules: the interval (ms) and the first slot. */
  readonly every: number | null;
  readonly startAt: Date | null;
  /** Cron schedules: the expression and its time zone. */
  readonly cron: string | null;
  readonly tz: string | null;
  readonly repeat: number | null;
  readonly overlap: OverlapPolicy | null;
  readonly queue: string | null;
  readonly timeoutMs: number | null;
  readonly maxAttempts: number | null;
  readonly status: ScheduleStatus;
  /** True when `register` manages it (declared in code); false when made with `schedule` / `cron`. */
  readonly declared: boolean;
  readonly pausedAt: Date | null;
  /** The next slot it fires, or null (paused slots are still shown; null once `repeat` is spent or when dead). */
  readonly nextRunAt: Date | null;
  /** The slot of its latest run. */
  readonly lastRunAt: Date | null;
  /** Runs created so far (skipped slots not counted). */
  readonly runCount: number;
  readonly createdAt: Date | null;
  readonly updatedAt: Date | null;
  /** Stored fields that could not be read, shown as null (`"spec"`, `"payload"`, `"nextRunAt"`, …); empty normally. */
  readonly unreadable: readonly string[];
}

/** The active scheduler, from its lease in SQL (the seeds' scheduler "running / dead"). */
export interface SchedulerStatus {
  /** True while a scheduler holds an unexpired lease. */
  readonly running: boolean;
  /** The holder (`host:pid:id`), also after its lease expired; null when none ever ran or it stopped cleanly. */
  readonly holder: string | null;
  readonly since: Date | null;
  /** When the holder last renewed its lease. */
  readonly lastSeenAt: Date | null;
  readonly expiresAt: Date | null;
}

export interface RunOptions {
  readonly queue: string;
  readonly priority: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** The retry policy as `tasks.retry` stores it. */
  readonly retry: string;
}

/** `scheduled_tasks.spec`. */
export interface StoredSpec {
  readonly every?: number;
  readonly startAt?: number;
  readonly cron?: string;
  readonly tz?: string;
  readonly repeat: number | null;
  readonly overlap: OverlapPolicy;
  readonly run: RunOptions;
}
