import { AsyncLocalStorage } from "node:async_hooks";
import { invalid, TaskledgerError } from "../core/errors.js";
import type { TaskContext } from "./define.js";

/** The context of the task running in the current async call chain (the seeds' `get_current_job()`). */
export const taskContextStorage = new AsyncLocalStorage<TaskContext>();

/** The running task's context, or `undefined` outside a task. */
export function currentTask(): TaskContext | undefined {
  return taskContextStorage.getStore();
}

/**
 * Set the current task's progress from any depth inside `run` — the seeds' `set_task_progress(n)`.
 * Throws when called outside a running task, rather than silently doing nothing.
 */
export function setTaskProgress(progress: number, data?: Record<string, unknown>): Promise<void> {
  const ctx = taskContextStorage.getStore();
  if (!ctx) {
    return Promise.reject(
      new TaskledgerError("conflict", "setTaskProgress() was called outside a running task"),
    );
  }
  return ctx.setProgress(progress, data);
}

/** A progress report as recorded: a number from 0 to 100, rounded; anything else is refused. */
export function progressValue(progress: unknown): number {
  if (typeof progress !== "number" || !Number.isFinite(progress) || progress < 0 || progress > 100) {
    throw invalid("progress", `must be a number from 0 to 100 (got ${String(progress)})`);
  }
  return Math.round(progress);
}
