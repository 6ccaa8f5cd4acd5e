import { AsyncLocalStorage } from "node:async_hooks";
import { TaskledgerError } from "../core/errors.js";
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
