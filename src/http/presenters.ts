import type { Schedule, Task } from "../core/types.js";

/** JSON presenters for the HTTP API and the CLI's `--json`: ISO-8601 times, camelCase fields. */

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

/** A schedule as JSON for the API and `--json`: ISO times. */
export function scheduleToJson(schedule: Schedule): Record<string, unknown> {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    ...schedule,
    startAt: iso(schedule.startAt),
    pausedAt: iso(schedule.pausedAt),
    nextRunAt: iso(schedule.nextRunAt),
    lastRunAt: iso(schedule.lastRunAt),
    createdAt: iso(schedule.createdAt),
    updatedAt: iso(schedule.updatedAt),
  };
}
