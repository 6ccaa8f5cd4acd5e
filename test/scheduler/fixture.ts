import { defineTask, type Taskledger } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { createScheduler, type Scheduler } from "../../src/scheduler/scheduler.js";
import { rawRows } from "../helpers/index.js";

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
export async function runRows(file: string, scheduleId?: number): Promise<RunRow[]> {
  const where = scheduleId === undefined ? "schedule_id is not null" : "schedule_id = ?";
  const rows = await rawRows<RunRow>(
    file,
    `select id, schedule_id, slot_at, created_at, status, failed, log from tasks where ${where} order by slot_at, id`,
    ...(scheduleId === undefined ? [] : [scheduleId]),
  );
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    schedule_id: Number(r.schedule_id),
    slot_at: Number(r.slot_at),
    created_at: Number(r.created_at),
    failed: Number(r.failed),
  }));
}

/** `scheduled_tasks` rows as stored, by key. */
export async function scheduleRows(file: string): Promise<Record<string, Record<string, unknown>>> {
  const rows = await rawRows(file, "select * from scheduled_tasks order by `key`".replace(/`/g, QUOTE(file)));
  return Object.fromEntries(rows.map((row) => [row.key as string, row]));
}

/** `key` is a reserved word in MySQL: quoted as each dialect quotes names. */
const QUOTE = (where: string) => (where.startsWith("mysql:") ? "`" : '"');

export const iso = (ms: number) => new Date(ms).toISOString();
export const MINUTE = 60_000;
