import type { Task } from "../core/types.js";
import { taskContextStorage } from "../tasks/context.js";
import type { TaskContext, TaskDefinition } from "../tasks/define.js";

/**
 * One attempt → one result. The pipeline: start the timeout → run the handler inside its
 * context → normalise whatever happens to exactly one `AttemptResult`.
 *
 * A handler cannot be killed, only asked (its AbortSignal) and then left behind: at its timeout
 * the attempt ends whatever the handler does later, and a late return is ignored.
 */
export type AttemptResult =
  | { readonly kind: "success"; readonly value: unknown }
  | { readonly kind: "error"; readonly error: unknown }
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  /** Cancel was requested; `ignored` when the handler did not stop before its timeout. */
  | { readonly kind: "canceled"; readonly ignored: boolean }
  /** The worker is shutting down and stopped waiting: the task goes back to the queue. */
  | { readonly kind: "interrupted" };

export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}
export class CancelError extends Error {
  override readonly name = "AbortError";
}

export interface RunningAttempt {
  readonly task: Task;
  readonly result: Promise<AttemptResult>;
  /** Ask the handler to stop because the task was canceled. */
  cancel(): void;
  /** Stop waiting for the handler (worker shutdown, lost lease). */
  interrupt(reason?: string): void;
}

export function startAttempt(
  definition: TaskDefinition,
  task: Task,
  setProgress: TaskContext["setProgress"],
): RunningAttempt {
  // The signal is made on first use (most handlers never look at it); an abort before then is kept.
  let controller: AbortController | undefined;
  let abortReason: unknown;
  let aborted = false;
  const abort = (reason: unknown) => {
    if (aborted) return;
    aborted = true;
    abortReason = reason;
    controller?.abort(reason);
  };
  const signal = () => {
    if (!controller) {
      controller = new AbortController();
      if (aborted) controller.abort(abortReason);
    }
    return controller.signal;
  };
  let canceled = false;
  let finish!: (result: AttemptResult) => void;
  const result = new Promise<AttemptResult>((resolve) => {
    finish = resolve;
  });
  let done = false;
  const settle = (value: AttemptResult) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    finish(value);
  };

  const timer = setTimeout(() => {
    if (canceled) return settle({ kind: "canceled", ignored: true });
    abort(new TimeoutError(`timed out after ${task.timeoutMs} ms`));
    settle({ kind: "timeout", timeoutMs: task.timeoutMs });
  }, task.timeoutMs);

  const ctx: TaskContext = {
    task,
    id: task.id,
    attempt: task.attempts,
    idempotencyKey: `${task.id}:${task.attempts}`,
    get signal() {
      return signal();
    },
    setProgress,
  };

  // Run on a later tick so a handler that throws synchronously is handled like one that rejects.
  Promise.resolve()
    .then(() => taskContextStorage.run(ctx, () => definition.run(task.payload, ctx)))
    .then(
      (value) => settle(canceled ? { kind: "canceled", ignored: false } : { kind: "success", value }),
      (error) => settle(canceled ? { kind: "canceled", ignored: false } : { kind: "error", error }),
    );

  return {
    task,
    result,
    cancel() {
      if (done || canceled) return;
      canceled = true;
      abort(new CancelError("canceled"));
    },
    interrupt(reason = "worker shutting down") {
      if (done) return;
      abort(new CancelError(reason));
      settle({ kind: "interrupted" });
    },
  };
}
