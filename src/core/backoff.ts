import { invalid } from "./errors.js";

/** How a failed attempt is retried. The seeds' default: 3 more tries, 5 s apart. */
export interface RetryPolicy {
  /** Retries after the first attempt (0 = never retry). */
  readonly max: number;
  /** Delay before a retry in ms; with `exponential`, the first delay, doubling each time. */
  readonly delay: number;
  readonly backoff?: "fixed" | "exponential";
  /** Upper bound for exponential delays, ms. Default 1 hour. */
  readonly maxDelay?: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ max: 3, delay: 5_000, backoff: "fixed" });

export type RetryOption = number | RetryPolicy;

export function normalizeRetry(
  value: RetryOption | undefined,
  field: string,
  fallback: RetryPolicy,
): RetryPolicy {
  if (value === undefined) return fallback;
  if (typeof value === "number") {
    assertCount(value, field);
    return { ...fallback, max: value };
  }
  if (typeof value !== "object" || value === null)
    throw invalid(field, "must be a retry count or { max, delay }");
  assertCount(value.max, `${field}.max`);
  if (value.delay !== undefined) assertCount(value.delay, `${field}.delay`);
  if (value.backoff !== undefined && value.backoff !== "fixed" && value.backoff !== "exponential") {
    throw invalid(`${field}.backoff`, 'must be "fixed" or "exponential"');
  }
  if (value.maxDelay !== undefined) assertCount(value.maxDelay, `${field}.maxDelay`);
  return Object.freeze({
    max: value.max,
    delay: value.delay ?? fallback.delay,
    backoff: value.backoff ?? "fixed",
    ...(value.maxDelay === undefined ? {} : { maxDelay: value.maxDelay }),
  });
}

/** When retries run: a policy without its count (which a task row keeps as `max_attempts`). */
export type RetryTiming = Pick<RetryPolicy, "delay" | "backoff" | "maxDelay">;

/**
 * The stored form of a policy's timing, `tasks.retry`: `"5000"` is a fixed 5 s delay,
 * `"exp 5000"` doubles from 5 s up to the default cap, `"exp 5000 60000"` caps at 60 s. It is in
 * every task row, so it is kept to a few bytes (as JSON it was over a quarter of a small task's row).
 */
export function encodeRetry(policy: RetryTiming): string {
  if (policy.backoff !== "exponential") return String(policy.delay);
  return policy.maxDelay === undefined ? `exp ${policy.delay}` : `exp ${policy.delay} ${policy.maxDelay}`;
}

const FIXED = /^\d+$/;
const EXPONENTIAL = /^exp (\d+)(?: (\d+))?$/;

/** Reads what `encodeRetry` wrote, and the JSON policy that rows written before it hold. */
export function decodeRetry(text: string): RetryTiming {
  if (FIXED.test(text)) return { delay: Number(text), backoff: "fixed" };
  const exponential = EXPONENTIAL.exec(text);
  if (exponential) {
    const [, delay, maxDelay] = exponential;
    return maxDelay === undefined
      ? { delay: Number(delay), backoff: "exponential" }
      : { delay: Number(delay), backoff: "exponential", maxDelay: Number(maxDelay) };
  }
  if (text.startsWith("{")) {
    const { max: _max, ...timing } = normalizeRetry(JSON.parse(text) as RetryPolicy, "retry", DEFAULT_RETRY);
    return timing;
  }
  throw invalid("retry", `unreadable stored retry policy ${JSON.stringify(text)}`);
}

/** Delay before retry number `retry` (1-based). */
export function retryDelay(policy: RetryTiming, retry: number): number {
  if (policy.backoff !== "exponential") return policy.delay;
  const max = policy.maxDelay ?? 3_600_000;
  return Math.min(max, policy.delay * 2 ** Math.max(0, retry - 1));
}

export function assertCount(value: unknown, field: string): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw invalid(field, `must be a non-negative integer (got ${describe(value)})`);
  }
}

export function assertPositiveInt(value: unknown, field: string): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw invalid(field, `must be a positive integer (got ${describe(value)})`);
  }
}

export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  return String(value);
}
