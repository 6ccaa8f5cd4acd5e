import {
  assertPositiveInt,
  DEFAULT_RETRY,
  normalizeRetry,
  type RetryOption,
  type RetryPolicy,
} from "../core/backoff.js";
import { invalid } from "../core/errors.js";
import type { Task } from "../core/types.js";

/** What a running task sees: its own record, its abort signal, and a way to report progress. */
export interface TaskContext {
  /** The ledger row as it was when this attempt started. */
  readonly task: Task;
  readonly id: number;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
  /** `${id}:${attempt}` — stable for one attempt; use it to make side effects idempotent. */
  readonly idempotencyKey: string;
  /** Fires on cancel (reason `"canceled"`), on timeout and on worker shutdown. */
  readonly signal: AbortSignal;
  /** Record progress 0–100 in the ledger and notify the owner. Resolves once written. */
  setProgress(progress: number, data?: Record<string, unknown>): Promise<void>;
}

export interface TaskDefinitionOptions<Payload, Result> {
  /** Unique name; stored in `tasks.name` (the seeds used the function's `__name__`). */
  readonly name: string;
  readonly run: (payload: Payload, ctx: TaskContext) => Result | Promise<Result>;
  /** Hard limit for one attempt, ms, at most 2 147 483 647 (about 24.8 days). Default 60 000 (the seeds' TaskBase.timeout). */
  readonly timeout?: number;
  /** Retries after a failure: a count, or `{ max, delay, backoff }`. Default 3 tries 5 s apart. */
  readonly retry?: RetryOption;
  /** Default queue. Default `default`. */
  readonly queue?: string;
}

export interface TaskDefinition<Payload = any, Result = any> {
  readonly name: string;
  readonly run: (payload: Payload, ctx: TaskContext) => Result | Promise<Result>;
  readonly timeout: number;
  readonly retry: RetryPolicy;
  readonly queue: string | undefined;
  /** Type-only marker so `enqueue(task, payload)` infers the payload type. */
  readonly __types?: { payload: Payload; result: Result };
}

export type PayloadOf<T> = T extends TaskDefinition<infer P, any> ? P : never;
export type ResultOf<T> = T extends TaskDefinition<any, infer R> ? Awaited<R> : never;

export const DEFAULT_TIMEOUT_MS = 60_000;
/** The longest timeout: a Node.js timer set longer fires after 1 ms instead. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Define a background task — what the seeds' `@background_task` decorator did.
 *
 * ```ts
 * export const countWords = defineTask({
 *   name: "count_words",
 *   async run(url: string, ctx) {
 *     const text = await (await fetch(url, { signal: ctx.signal })).text();
 *     await ctx.setProgress(50);
 *     return { words: text.split(/\s+/).length };
 *   },
 * });
 * ```
 */
export function defineTask<Payload = unknown, Result = unknown>(
  options: TaskDefinitionOptions<Payload, Result>,
): TaskDefinition<Payload, Awaited<Result>> {
  if (typeof options !== "object" || options === null) throw invalid("task", "must be an object");
  if (typeof options.name !== "string" || !NAME_PATTERN.test(options.name)) {
    throw invalid("name", "must be 1–128 characters of letters, digits, _ . : -");
  }
  if (typeof options.run !== "function") throw invalid("run", "must be a function");
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  assertTimeout(timeout, "timeout");
  const retry = normalizeRetry(options.retry, "retry", DEFAULT_RETRY);
  if (options.queue !== undefined) assertQueueName(options.queue, "queue");
  return Object.freeze({
    name: options.name,
    run: options.run as TaskDefinition<Payload, Awaited<Result>>["run"],
    timeout,
    retry,
    queue: options.queue,
  });
}

/** A timeout of one attempt: whole milliseconds, positive, at most {@link MAX_TIMEOUT_MS}. */
export function assertTimeout(value: unknown, field: string): asserts value is number {
  assertPositiveInt(value, field);
  if (value > MAX_TIMEOUT_MS) {
    throw invalid(
      field,
      `must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days, the longest a Node.js timer waits) (got ${value})`,
    );
  }
}

export function assertQueueName(value: unknown, field: string): asserts value is string {
  if (typeof value !== "string" || !NAME_PATTERN.test(value)) {
    throw invalid(field, "must be 1–128 characters of letters, digits, _ . : -");
  }
}
