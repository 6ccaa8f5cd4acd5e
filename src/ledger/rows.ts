import { decodeJson } from "../core/json.js";
import type { Notification, Task, TaskStatus, WorkerInfo } from "../core/types.js";
import type { Delivery } from "../engine/contract.js";
import type { NotificationRow, TaskRow, WorkerRow } from "./schema.js";

/** Row → domain mapping, in exactly one place. Integers may arrive as strings (pg int8). */

const num = (value: number | string): number => (typeof value === "number" ? value : Number(value));
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

/** A task as JSON for the API and `--json`: ISO times, the shape of DESIGN §3. */
export function taskToJson(task: Task): Record<string, unknown> {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: task.id,
    name: task.name,
    description: task.description,
    owner: task.owner,
    queue: task.queue,
    priority: task.priority,
    status: task.status,
    failed: task.failed,
    progress: task.progress,
    payload: task.payload,
    result: task.result,
    log: task.log,
    attempts: task.attempts,
    maxAttempts: task.maxAttempts,
    timeoutMs: task.timeoutMs,
    reservedAt: iso(task.reservedAt),
    scheduleId: task.scheduleId,
    slotAt: iso(task.slotAt),
    cancelRequestedAt: iso(task.cancelRequestedAt),
    idempotencyKey: task.idempotencyKey,
    noReturnAt: iso(task.noReturnAt),
    noReturnReason: task.noReturnReason,
    createdAt: iso(task.createdAt),
    startedAt: iso(task.startedAt),
    finishedAt: iso(task.finishedAt),
    updatedAt: iso(task.updatedAt),
  };
}

/** The delivery of a waiting task's next attempt ("attempt n of task id may start at run_at"). */
export function toDelivery(row: TaskRow): Delivery {
  return {
    id: Number(row.id),
    attempt: Number(row.attempts) + 1,
    queue: row.queue,
    priority: Number(row.priority),
    runAt: Number(row.run_at ?? row.reserved_at ?? row.created_at),
  };
}
