import { type RetryTiming, retryDelay } from "../core/backoff.js";
import { describeError } from "../core/errors.js";
import { bytesOver, encodeJson } from "../core/json.js";
import { appendEntry, failureEntry } from "../core/task-log.js";
import type { Task } from "../core/types.js";
import type { Commit } from "../engine/commit.js";
import type { Db, Outcome, SettledRow } from "../ledger/ledger.js";
import * as ledger from "../ledger/ledger.js";
import { toDelivery } from "../ledger/rows.js";
import type { AttemptResult } from "./runner.js";

export interface Settled {
  /** The outcomes that were current, and so written (a stale attempt's is not). */
  readonly applied: readonly SettledRow[];
}

/**
 * The one settle pipeline, for every caller (a worker's round, the sweeper's rescue of lapsed
 * leases): outcomes → the ledger (fenced by attempt; a schedule run's schedule follows, and the
 * notifications are written) → the engine: a task back in `queued` is delivered again, as its
 * next attempt at its `run_at`. Runs inside the caller's transaction; what must wait for the
 * commit (publishing, an engine outside the ledger) waits in `commit`. With `deferred`, the
 * notifications are left there for the caller to write (`ledger.settleOutcomes`).
 */
export async function settle(
  commit: Commit,
  outcomes: readonly Outcome[],
  now: number,
  deferred?: ledger.NewNotification[],
): Promise<Settled> {
  if (outcomes.length === 0) return { applied: [] };
  const written = await ledger.settleOutcomes(commit.tx as Db, outcomes, now, deferred);
  commit.publish(written.notifications);
  await commit.deliver(
    written.value.filter((a) => a.row.status === "queued"),
    (a) => toDelivery(a.row),
  );
  return { applied: written.value };
}

/**
 * What one attempt's result means for the ledger: exactly one outcome per attempt, or none when
 * the attempt was lost (its lease was taken: the ledger has already decided what became of it).
 * Its log is the task's log so far with this attempt's entry below: earlier failures are kept.
 */
export function toOutcome(
  task: Task,
  retry: RetryTiming,
  result: AttemptResult,
  now: number,
  maxResultBytes?: number,
): Outcome | null {
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
      const bytes = maxResultBytes === undefined ? undefined : bytesOver(encoded, maxResultBytes);
      if (bytes !== undefined) {
        return failure(
          task,
          retry,
          `Failed for: the returned value is ${bytes} bytes of JSON; the limit is ${maxResultBytes} (maxJsonBytes). Store large results elsewhere and return a reference`,
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
        log: appendEntry(
          task.log,
          result.ignored
            ? `Canceled: the handler ignored its abort signal and was stopped at its ${task.timeoutMs} ms timeout`
            : result.error === undefined
              ? "Canceled while running"
              : `Canceled while running. ${failureEntry(task, `Failed for: ${describeError(result.error)}`)}`,
        ),
      };
    case "interrupted":
      return {
        kind: "released",
        ...base,
        log: appendEntry(
          task.log,
          `Interrupted by worker shutdown during attempt ${task.attempts}; requeued without spending the attempt`,
        ),
      };
    case "lost":
      return null;
  }
}

function failure(task: Task, retry: RetryTiming, text: string, now: number): Outcome {
  const retriesUsed = task.attempts - 1;
  const retryAt = task.attempts < task.maxAttempts ? now + retryDelay(retry, retriesUsed + 1) : null;
  const log = appendEntry(task.log, failureEntry(task, text));
  return { kind: "failure", id: task.id, attempts: task.attempts, log, retryAt };
}
