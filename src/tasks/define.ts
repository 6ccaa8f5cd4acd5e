import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
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
  /**
   * Say that this attempt is about to do what cannot be undone (hand a mail to the SMTP server,
   * charge a card): from then on a cancel is refused with `reason` instead of being recorded
   * while the effect happens anyway. Rejects with an AbortError, and the task ends canceled,
   * when a cancel was requested first — so call it right before the step and do not catch that.
   *
   * ```ts
   * await ctx.pointOfNoReturn("sending the mail");
   * await transport.sendMail(message);
   * ```
   */
  pointOfNoReturn(reason?: string): Promise<void>;
}

/**
 * Where a handler runs. `"none"` (default): on the worker's event loop, beside the others.
 * `"thread"`: on a worker thread of its own, for CPU-bound handlers that would block the event
 * loop — heartbeats, cancels and other tasks keep going, and the thread is terminated when the
 * attempt ends (timeout, cancel ignored, shutdown). The payload and result cross the thread by
 * structured clone; the thread imports the task's module (`module`) to find the definition.
 */
export type Isolation = "none" | "thread";

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
  /** `"thread"` runs the handler on a worker thread of its own (CPU-bound work). Default `"none"`. */
  readonly isolation?: Isolation;
  /**
   * With `isolation: "thread"`: the module that exports this definition, as a URL or path
   * (pass `import.meta.url`). Default: the module that called `defineTask`.
   */
  readonly module?: string;
}

export interface TaskDefinition<Payload = any, Result = any> {
  readonly name: string;
  readonly run: (payload: Payload, ctx: TaskContext) => Result | Promise<Result>;
  readonly timeout: number;
  readonly retry: RetryPolicy;
  readonly queue: string | undefined;
  readonly isolation: Isolation;
  /** The defining module's URL, for `isolation: "thread"`. */
  readonly module: string | undefined;
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
  const isolation = options.isolation ?? "none";
  if (isolation !== "none" && isolation !== "thread")
    throw invalid("isolation", `must be "none" or "thread" (got ${JSON.stringify(isolation)})`);
  let module: string | undefined;
  if (isolation === "thread") {
    module = options.module === undefined ? callerModule() : moduleUrl(options.module);
    if (module === undefined)
      throw invalid("module", 'is required with isolation "thread": pass module: import.meta.url');
  }
  return Object.freeze({
    name: options.name,
    run: options.run as TaskDefinition<Payload, Awaited<Result>>["run"],
    timeout,
    retry,
    queue: options.queue,
    isolation,
    module,
  });
}

function moduleUrl(value: unknown): string {
  if (typeof value !== "string" || value === "") throw invalid("module", "must be a module URL or path");
  if (/^[a-z][a-z0-9+.-]*:/i.test(value) && !/^[a-z]:[\\/]/i.test(value)) return value;
  return pathToFileURL(resolve(value)).href;
}

/** The file URL of the module that called `defineTask`, read off the stack (undefined if none is). */
function callerModule(): string | undefined {
  const self = import.meta.url;
  for (const line of (new Error().stack ?? "").split("\n").slice(1)) {
    const match = /(file:\/\/[^\s)]+?|\/[^\s)]+?):\d+:\d+\)?$/.exec(line.trim());
    if (!match) continue;
    const url = match[1]!.startsWith("file:") ? match[1]! : pathToFileURL(match[1]!).href;
    if (url !== self) return url;
  }
  return undefined;
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
