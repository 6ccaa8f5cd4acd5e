import BetterSqlite3 from "better-sqlite3";
import { defineTask, type Taskledger } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { createScheduler, type Scheduler } from "../../src/scheduler/scheduler.js";

/**
 * Helpers for the schedule tests. Schedulers made here are driven by hand (`tick()`), so with a
 * ManualClock the test decides exactly when each one looks at the time; their timers are never
 * started.
 */
export const noop = defineTask({ name: "noop", retry: 0, run: () => ({ ok: true }) });

export function schedulerOf(tl: Taskledger): Scheduler {
  return createScheduler(runtimeOf(tl), tl.schedules);
}

export interface RunRow {
  readonly id: number;
  readonly schedule_id: number;
  readonly slot_at: number;
  readonly created_at: number;
  readonly status: string;
  readonly failed: number;
  readonly log: string | null;
}

/** Every run row on disk (read through a separate connection), in slot order. */
export function runRows(file: string, scheduleId?: number): RunRow[] {
  const db = new BetterSqlite3(file, { readonly: true, timeout: 5_000 });
  try {
    const where = scheduleId === undefined ? "schedule_id is not null" : "schedule_id = ?";
    return db
      .prepare(
        `select id, schedule_id, slot_at, created_at, status, failed, log from tasks where ${where} order by slot_at, id`,
      )
      .all(...(scheduleId === undefined ? [] : [scheduleId])) as RunRow[];
  } finally {
    db.close();
  }
}

/** `scheduled_tasks` rows as stored, by key. */
export function scheduleRows(file: string): Record<string, Record<string, unknown>> {
  const db = new BetterSqlite3(file, { readonly: true, timeout: 5_000 });
  try {
    const rows = db.prepare("select * from scheduled_tasks order by key").all() as Record<string, unknown>[];
    return Object.fromEntries(rows.map((row) => [row.key as string, row]));
  } finally {
    db.close();
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();
export const MINUTE = 60_000;
