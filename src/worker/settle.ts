import { type RetryTiming, retryDelay } from "../core/backoff.js";
import { describeError } from "../core/errors.js";
import { encodeJson } from "../core/json.js";
import type { Task } from "../core/types.js";
import type { Outcome } from "../ledger/ledger.js";
import type { AttemptResult } from "./runner.js";

/** What one attempt's result means for the ledger: exactly one outcome per attempt. */
export function toOutcome(task: Task, retry: RetryTiming, result: AttemptResult, now: number): Outcome {
  const base = { id: task.id, attempts: task.attempts };
  switch (result.kind) {
    case "success": {
      let encoded: string;
      try {
        encoded = encodeJson(result.value, "result");
      } catch (error) {
        return failure(
          task,
          retry,
          `Failed for: the returned value is not JSON — ${(error as Error).message}`,
          now,
        );
      }
      return { kind: "success", ...base, result: encoded };
    }
    case "error":
      return failure(task, retry, `Failed for: ${describeError(result.error)}`, now);
    case "timeout":
      return failure(
        task,
        retry,
        `Failed for: timed out after ${result.timeoutMs} ms (attempt ${task.attempts})`,
        now,
      );
    case "canceled":
      return {
        kind: "canceled",
        ...base,
        log: result.ignored
          ? `Canceled: the handler ignored its abort signal and was stopped at its ${task.timeoutMs} ms timeout`
          : "Canceled while running",
      };
    case "interrupted":
      return { kind: "failure", ...base, log: "Interrupted by worker shutdown; requeued", retryAt: now };
  }
}

function failure(task: Task, retry: RetryTiming, log: string, now: number): Outcome {
  const retriesUsed = task.attempts - 1;
  const retryAt = task.attempts < task.maxAttempts ? now + retryDelay(retry, retriesUsed + 1) : null;
  return { kind: "failure", id: task.id, attempts: task.attempts, log, retryAt };
}
