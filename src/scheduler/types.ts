import type { RetryOption } from "../core/backoff.js";
import type { PayloadOf, TaskDefinition } from "../tasks/define.js";

/**
 * Schedules — the seeds' `SchedulerService` / `ScheduledTask`. A schedule is a recurring
 * definition (an interval, or a cron expression in a time zone) with a stable `key`; each run is
 * an ordinary task (`tasks` row with `scheduleId` and `slotAt`), run by the normal workers.
 */

/** `running`: fires; `failed`: fires, and its last run failed; `death`: no longer declared, stopped. */
export type ScheduleStatus = "running" | "death" | "failed";

export const SCHEDULE_STATUSES: readonly ScheduleStatus[] = ["running", "death", "failed"];

/**
 * What to do with a slot when the schedule's previous run is still queued or running:
 * `skip` (default) records the slot as a canceled run and fires nothing; `allow` fires anyway.
 */
export type OverlapPolicy = "skip" | "allow";

interface ScheduleBase<T extends TaskDefinition> {
  /** Stable identity: the same key is the same schedule, whatever else changes. */
  readonly key: string;
  readonly task: T | string;
  readonly payload?: PayloadOf<T>;
  /** Required: what the schedule does, for people reading the ledger (each run gets it too). */
  readonly description: string;
  /** The user its runs belong to; `null` for system schedules (default). */
  readonly owner?: string | null;
  /** Runs in all; unlimited when omitted. */
  readonly repeat?: number;
  readonly overlap?: OverlapPolicy;
  /** Options of each run, as for `tasks.enqueue`. */
  readonly queue?: string;
  readonly timeout?: number;
  readonly retry?: RetryOption;
  readonly priority?: number;
}

/** Every `every` ms from `startAt` (the seeds' `schedule(scheduled_time, interval, repeat)`). */
export interface IntervalSchedule<T extends TaskDefinition = TaskDefinition> extends ScheduleBase<T> {
  /** Interval in milliseconds, from 1 000 (1 s) to 3 650 days. */
  readonly every: number;
  /**
   * First slot (Date, ISO-8601 with its zone, or epoch ms), at most `reservationHorizonDays`
   * ahead. Default: when the schedule is first created.
   */
  readonly startAt?: Date | string | number;
  readonly cron?: undefined;
  readonly tz?: undefined;
}

/** On a cron expression in a time zone (the seeds' `cron(cron_string)`). */
export interface CronSchedule<T extends TaskDefinition = TaskDefinition> extends ScheduleBase<T> {
  /** 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first. */
  readonly cron: string;
  /** IANA time zone the expression is read in. Default `UTC`. */
  readonly tz?: string;
  readonly every?: undefined;
  readonly startAt?: undefined;
}

/** One entry of a `register` list (or of the config's `schedules`). */
export type ScheduleEntry<T extends TaskDefinition = TaskDefinition> = IntervalSchedule<T> | CronSchedule<T>;

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

/** What `register` did, by key. */
export interface RegisterSummary {
  /** New keys: created `running`. */
  readonly added: string[];
  /** Keys whose `death` row came back `running`, history kept. */
  readonly revived: string[];
  /** Keys whose task, spec, payload, description or owner changed: updated in place, next time recomputed. */
  readonly updated: string[];
  /** Unchanged keys: left alone (a `failed` one is set back to `running`). */
  readonly kept: string[];
  /** Declared keys missing from the list: now `death`, firing no more. */
  readonly removed: string[];
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
