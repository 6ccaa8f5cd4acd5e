import {
  assertCount,
  describe,
  encodeRetry,
  normalizeRetry,
  type RetryOption,
  type RetryPolicy,
} from "../core/backoff.js";
import { invalid } from "../core/errors.js";
import { encodeJson } from "../core/json.js";
import { assertWithinHorizon, parseTime } from "../core/time.js";
import type { NewTask } from "../ledger/ledger.js";
import type { Runtime, Settings } from "../runtime.js";
import type { TaskDefinition } from "../tasks/define.js";
import { assertQueueName, assertTimeout } from "../tasks/define.js";
import { assertKnownQueue } from "../tasks/registry.js";

export interface EnqueueOptions {
  /** Required: what this task is, for people reading the ledger. */
  readonly description: string;
  /** The user it belongs to (the seeds' `session['username']`). */
  readonly owner?: string | null;
  /** One of the known queues (`knownQueues`): the declared ones, else high, default and the tasks' own. */
  readonly queue?: string;
  /** Timeout of one attempt, ms (positive integer, at most 2 147 483 647). */
  readonly timeout?: number;
  /** Retries after a failure: a count, or `{ max, delay, backoff }`. */
  readonly retry?: RetryOption;
  /** Higher runs first within a queue. Integer, default 0. */
  readonly priority?: number;
  /**
   * One task per owner and key: a repeat with the same key returns the task recorded first and
   * writes nothing; the same key with another task name, payload or run time is a `conflict`.
   */
  readonly idempotencyKey?: string | null;
}

const MAX_DESCRIPTION = 1_000;
const MAX_OWNER = 255;
const MAX_IDEMPOTENCY_KEY = 255;

/** The stored form of a retry policy; policies are frozen and usually shared, so their text is kept. */
const retryTexts = new WeakMap<object, string>();
function retryText(retry: RetryPolicy): string {
  let text = retryTexts.get(retry);
  if (text === undefined) {
    text = encodeRetry(retry);
    if (Object.isFrozen(retry)) retryTexts.set(retry, text);
  }
  return text;
}

/** Check everything about one new task before anything is written; returns the row to insert. */
export function prepareTask(
  definition: TaskDefinition,
  payload: unknown,
  options: EnqueueOptions | undefined,
  rt: Pick<Runtime, "settings" | "registry">,
  status: "queued" | "reserved",
  reservedAt: number | null,
  defaultQueue: string,
): NewTask {
  if (typeof options !== "object" || options === null) {
    throw invalid("description", "is required (pass { description: '…' })");
  }
  const { description } = options;
  if (typeof description !== "string" || description.trim() === "") {
    throw invalid("description", "is required to start a background task");
  }
  if (description.length > MAX_DESCRIPTION)
    throw invalid("description", `must be at most ${MAX_DESCRIPTION} characters`);
  const owner = optionalName(options.owner, "owner", MAX_OWNER);
  const idempotencyKey = optionalName(options.idempotencyKey, "idempotencyKey", MAX_IDEMPOTENCY_KEY);
  const queue = options.queue ?? definition.queue ?? defaultQueue;
  assertQueueName(queue, "queue");
  assertKnownQueue(queue, rt.settings, rt.registry);
  const timeout = options.timeout ?? definition.timeout;
  assertTimeout(timeout, "timeout");
  const retry = normalizeRetry(options.retry, "retry", definition.retry);
  const priority = options.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority) > 1_000_000) {
    throw invalid("priority", `must be an integer (got ${describe(priority)})`);
  }
  assertCount(retry.max, "retry");
  return {
    name: definition.name,
    description,
    owner,
    queue,
    priority,
    status,
    payload: encodeJson(payload, "payload", rt.settings.maxJsonBytes),
    maxAttempts: retry.max + 1,
    retry: retryText(retry),
    timeoutMs: timeout,
    reservedAt,
    idempotencyKey,
  };
}

/** An optional non-empty string of at most `max` characters; `null` when absent. */
function optionalName(value: unknown, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value === "" || value.length > max) {
    throw invalid(field, `must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

/**
 * A reservation time: a Date, epoch ms or an ISO-8601 string with its zone, at least
 * `reservationLeadSeconds` ahead (the seeds' RESERVATION_LIMIT_SECONDS) and at most
 * `reservationHorizonDays`.
 */
export function parseReservationTime(at: unknown, now: number, settings: Settings, field = "at"): number {
  const time = parseTime(at, field);
  if (time <= now) throw invalid(field, `is in the past (${new Date(time).toISOString()})`);
  const lead = settings.reservationLeadSeconds;
  if (time - now < lead * 1000) {
    throw invalid(
      field,
      `must be at least ${lead} seconds from now (a reservation within ${lead} s is not allowed)`,
    );
  }
  assertWithinHorizon(time, now, settings.reservationHorizonDays, field);
  return time;
}

export function assertTaskId(id: unknown, field = "id"): asserts id is number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) {
    throw invalid(field, `must be a positive integer task id (got ${describe(id)})`);
  }
}
