import type { RetryOption } from "../core/backoff.js";
import type { OverlapPolicy } from "../core/types.js";
import type { PayloadOf, TaskDefinition } from "../tasks/define.js";

export {
  type OverlapPolicy,
  SCHEDULE_STATUSES,
  type Schedule,
  type SchedulerStatus,
  type ScheduleStatus,
} from "../core/types.js";

/**
 * Schedules — the seeds' `SchedulerService` / `ScheduledTask`. A schedule is a recurring
 * definition (an interval, or a cron expression in a time zone) with a stable `key`; each run is
 * an ordinary task (`tasks` row with `scheduleId` and `slotAt`), run by the normal workers.
 */

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
