import { describePendingRetry, type PendingRetry } from "../core/task-log.js";
import type { Task } from "../core/types.js";
import { runtimeOf } from "../internals.js";
import type { Taskledger } from "../taskledger.js";
import { type Output, progressBar, statusLabel } from "./output.js";

const TERMINAL = new Set(["finished", "canceled"]);

/**
 * Follow a task until it ends, drawing a progress bar (a line per change when not a TTY), and
 * while a retry waits, which attempt failed, why, and when the next one starts.
 * Re-reads the row whenever the database changes (any process), with a slow fallback timer.
 */
export async function followTask(tl: Taskledger, id: number, out: Output): Promise<Task> {
  let last = "";
  const draw = (task: Task, retry: PendingRetry | null) => {
    if (out.json) return;
    const line = `#${task.id} ${task.name} ${progressBar(task.progress)} ${statusLabel(task)}`;
    const text = retry ? `${line} — ${describePendingRetry(retry, Date.now())}` : line;
    // A terminal counts the retry down; a log gets one line per retry, not one per second.
    const key = out.tty || !retry ? text : `${line} retry ${retry.attempt}`;
    if (key === last) return;
    last = key;
    if (out.tty) process.stdout.write(`\r\u001b[2K${text}`);
    else out.line(text);
  };
  return new Promise<Task>((resolve, reject) => {
    let busy = false;
    let again = false;
    const check = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          const task = await tl.tasks.get(id);
          if (!task) throw new Error(`task ${id} disappeared`);
          draw(task, await tl.tasks.pendingRetry(task));
          if (TERMINAL.has(task.status)) {
            stop();
            if (out.tty) process.stdout.write("\n");
            resolve(task);
            return;
          }
        } while (again);
      } catch (error) {
        stop();
        reject(error);
      } finally {
        busy = false;
      }
    };
    const unsubscribe = runtimeOf(tl).notifier.subscribe(() => void check());
    const timer = setInterval(() => void check(), 500);
    const stop = () => {
      unsubscribe();
      clearInterval(timer);
    };
    void check();
  });
}
