import { decodeJson } from "../core/json.js";
import type {
  Notification,
  Schedule,
  SchedulerStatus,
  ScheduleStatus,
  StoredSpec,
  Task,
  TaskStatus,
  WorkerInfo,
} from "../core/types.js";
import type { Delivery, Withdrawal } from "../engine/contract.js";
import type { LeaseRow, NotificationRow, ScheduledTaskRow, TaskRow, WorkerRow } from "./schema.js";

/** Row → domain mapping, in exactly one place. Integers may arrive as strings (pg int8). */

export const num = (value: number | string): number => (typeof value === "number" ? value : Number(value));
const date = (value: number | string | null): Date | null => (value === null ? null : new Date(num(value)));

export function toTask(row: TaskRow): Task {
  return {
    id: num(row.id),
    name: row.name,
    description: row.description,
    owner: row.owner,
    queue: row.queue,
    priority: num(row.priority),
    status: row.status as TaskStatus,
    failed: num(row.failed) === 1,
    progress: num(row.progress),
    payload: decodeJson(row.payload),
    result: decodeJson(row.result),
    log: row.log,
    attempts: num(row.attempts),
    maxAttempts: num(row.max_attempts),
    timeoutMs: num(row.timeout_ms),
    reservedAt: date(row.reserved_at),
    scheduleId: row.schedule_id === null ? null : num(row.schedule_id),
    slotAt: date(row.slot_at),
    cancelRequestedAt: date(row.cancel_requested_at),
    idempotencyKey: row.idempotency_key,
    noReturnAt: date(row.no_return_at),
    noReturnReason: row.no_return_reason,
    createdAt: new Date(num(row.created_at)),
    updatedAt: new Date(num(row.updated_at)),
    startedAt: date(row.started_at),
    finishedAt: date(row.finished_at),
  };
}

export function toNotification(row: NotificationRow): Notification {
  return {
    id: num(row.id),
    owner: row.owner,
    name: row.name,
    taskId: row.task_id === null ? null : num(row.task_id),
    data: decodeJson<Record<string, unknown>>(row.data) ?? {},
    createdAt: new Date(num(row.created_at)),
  };
}

export function toWorker(row: WorkerRow): WorkerInfo {
  return {
    id: row.id,
    host: row.host,
    pid: num(row.pid),
    queues: decodeJson<string[]>(row.queues) ?? [],
    concurrency: num(row.concurrency),
    startedAt: new Date(num(row.started_at)),
    lastSeenAt: new Date(num(row.last_seen_at)),
  };
}

/** A worker is live while it has been seen within one lease (it checks in every heartbeat, a third of it). */
export function isLive(worker: Pick<WorkerInfo, "lastSeenAt">, now: number, leaseMs: number): boolean {
  return now - worker.lastSeenAt.getTime() < leaseMs;
}

/** Which delivery a waiting task's next attempt is: attempt `attempts + 1` of the task, on its queue. */
export function withdrawalOf(row: Pick<TaskRow, "id" | "attempts" | "queue">): Withdrawal {
  return { id: Number(row.id), attempt: Number(row.attempts) + 1, queue: row.queue };
}

/** The delivery of a waiting task's next attempt ("attempt n of task id may start at run_at"). */
export function toDelivery(
  row: Pick<TaskRow, "id" | "attempts" | "queue" | "priority" | "run_at" | "reserved_at" | "created_at">,
): Delivery {
  return {
    ...withdrawalOf(row),
    priority: Number(row.priority),
    runAt: Number(row.run_at ?? row.reserved_at ?? row.created_at),
  };
}

/** A stored spec, or undefined when the row holds something else (a row written by hand). */
export function readSpec(text: string): StoredSpec | undefined {
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch {
    return undefined;
  }
  const run = (spec as { run?: unknown } | null)?.run;
  return typeof spec === "object" && typeof run === "object" && run !== null
    ? (spec as StoredSpec)
    : undefined;
}

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

/** The active scheduler, from its lease row (none: never ran, or stopped cleanly). */
export function toSchedulerStatus(row: LeaseRow | undefined, now: number): SchedulerStatus {
  if (!row) return { running: false, holder: null, since: null, lastSeenAt: null, expiresAt: null };
  return {
    running: num(row.expires_at) > now,
    holder: row.holder,
    since: date(row.acquired_at),
    lastSeenAt: date(row.renewed_at),
    expiresAt: date(row.expires_at),
  };
}
