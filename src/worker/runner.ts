import type { Task } from "../core/types.js";
import { taskContextStorage } from "../tasks/context.js";
import type { TaskContext, TaskDefinition } from "../tasks/define.js";
import { runInThread } from "./thread.js";

/**
 * One attempt → one result. The pipeline: start the timeout → run the handler inside its
 * context → normalise whatever happens to exactly one `AttemptResult`.
 *
 * A handler on the worker's own thread cannot be killed, only asked (its AbortSignal) and then
 * left behind: at its timeout the attempt ends whatever the handler does later, and a late
 * return is ignored. A handler defined with `isolation: "thread"` runs on a thread of its own,
 * which is terminated when its attempt ends, whatever the handler is doing.
 */
export type AttemptResult =
  | { readonly kind: "success"; readonly value: unknown }
  | { readonly kind: "error"; readonly error: unknown }
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  /**
   * Cancel was requested; `ignored` when the handler did not stop before its timeout; `error` when
   * it ended with an error of its own (not its abort) after the request: kept in the log.
   */
  | { readonly kind: "canceled"; readonly ignored: boolean; readonly error?: unknown }
  /** The worker is shutting down and stopped waiting: the task goes back to the queue. */
  | { readonly kind: "interrupted" }
  /** The worker's lease was taken (the task runs elsewhere now): this attempt has no outcome. */
  | { readonly kind: "lost"; readonly reason: string };

export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
}
export class CancelError extends Error {
  override readonly name = "AbortError";
}

/** The handler's way of saying it stopped at its abort signal (the signal's reason, or an AbortError). */
const isAbort = (error: unknown) => error instanceof Error && error.name === "AbortError";

/** What an attempt asks of the worker that runs it. */
export interface AttemptHooks {
  setProgress: TaskContext["setProgress"];
  /** Record the point of no return; false when the attempt may not go on (a cancel came first, or it was lost). */
  pointOfNoReturn(reason: string): Promise<boolean>;
}

export interface RunningAttempt {
  readonly task: Task;
  readonly result: Promise<AttemptResult>;
  /** Ask the handler to stop because the task was canceled. */
  cancel(): void;
  /** Stop waiting for the handler (worker shutdown): the task is requeued. */
  interrupt(reason?: string): void;
  /** The lease was lost: abort the handler; the attempt records nothing. */
  lose(reason: string): void;
}

export function startAttempt(definition: TaskDefinition, task: Task, hooks: AttemptHooks): RunningAttempt {
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
  const cancel = () => {
    if (done || canceled) return;
    canceled = true;
    abort(new CancelError("canceled"));
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
    setProgress: hooks.setProgress,
    async pointOfNoReturn(reason = "past its point of no return") {
      if (typeof reason !== "string" || reason.length > 500)
        throw new TypeError("pointOfNoReturn(reason): reason must be a string of at most 500 characters");
      if (aborted) throw abortReason;
      if (await hooks.pointOfNoReturn(reason)) return;
      // A cancel was requested before this point (or the attempt is no longer ours): stop here.
      cancel();
      throw abortReason ?? new CancelError("canceled");
    },
  };

  const run =
    definition.isolation === "thread"
      ? () => runInThread(definition, task, ctx, result)
      : () => definition.run(task.payload, ctx);
  // Run on a later tick so a handler that throws synchronously is handled like one that rejects.
  Promise.resolve()
    .then(() => taskContextStorage.run(ctx, run))
    .then(
      (value) => settle(canceled ? { kind: "canceled", ignored: false } : { kind: "success", value }),
      (error) =>
        settle(
          canceled
            ? { kind: "canceled", ignored: false, ...(isAbort(error) ? {} : { error }) }
            : { kind: "error", error },
        ),
    );

  return {
    task,
    result,
    cancel,
    interrupt(reason = "worker shutting down") {
      if (done) return;
      abort(new CancelError(reason));
      settle({ kind: "interrupted" });
    },
    lose(reason) {
      if (done) return;
      abort(new CancelError(reason));
      settle({ kind: "lost", reason });
    },
  };
}
