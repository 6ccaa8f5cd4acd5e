/**
 * A task's `log`: what its attempts had to say, oldest first, one entry per line that starts at
 * the left margin. A failed attempt's entry reads `attempt N: Failed for: Error: …` (unlabelled
 * when the task has a single attempt and nothing before it); what follows an entry's first line
 * indented — stack frames, `Caused by: …` — is detail, for admins. Everyone else reads the log
 * without it (`publicLog`).
 */

/** The log with the entry of one more attempt: the earlier attempts' entries are kept above it. */
export function appendEntry(log: string | null, entry: string): string {
  return log ? `${log}\n${entry}` : entry;
}

/** The entry of a failed attempt, labelled with its number where the log may hold several. */
export function failureEntry(
  task: { readonly attempts: number; readonly maxAttempts: number; readonly log: string | null },
  text: string,
): string {
  return task.maxAttempts > 1 || task.log ? `attempt ${task.attempts}: ${text}` : text;
}

/** The log without its detail: indented lines (stacks, causes) are left out. Null stays null. */
export function publicLog(log: string | null): string | null {
  if (log === null) return null;
  return log
    .split("\n")
    .filter((line) => !/^\s/.test(line))
    .join("\n");
}

/**
 * Why attempt `attempt` failed, in one line: its entry without the `attempt N: Failed for: `
 * label — or, where the log has no entry for it (a worker that stopped responding is recorded by
 * the sweeper), the log's last entry.
 */
export function attemptFailure(log: string | null, attempt: number): string | undefined {
  const label = `attempt ${attempt}: `;
  const entries = publicLog(log)?.split("\n") ?? [];
  const own = entries.findLast((line) => line.startsWith(label))?.slice(label.length) ?? entries.at(-1);
  return own?.replace(/^Failed for: /, "");
}

/** A task waiting to run again after a failed attempt. */
export interface PendingRetry {
  /** The attempt that failed. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Why, in one line (no stack). */
  readonly error: string;
  /** When the next attempt may start. */
  readonly retryAt: Date;
}

/**
 * The retry a queued task waits for, from its `task_retry` notification: null unless that
 * notification is for the attempt the task is at (a task given back at shutdown is not retrying).
 */
export function pendingRetryOf(
  task: {
    readonly status: string;
    readonly attempts: number;
    readonly maxAttempts: number;
    readonly log: string | null;
  },
  retry: { readonly data: Record<string, unknown> } | undefined,
): PendingRetry | null {
  if (task.status !== "queued" || !retry || retry.data.released || retry.data.attempts !== task.attempts)
    return null;
  const retryAt = new Date(String(retry.data.retryAt));
  if (Number.isNaN(retryAt.getTime())) return null;
  return {
    attempt: task.attempts,
    maxAttempts: task.maxAttempts,
    error: attemptFailure(task.log, task.attempts) ?? "unknown error",
    retryAt,
  };
}

/** "attempt 2 of 4 failed: Error: no route to host" ("failed: …" for a task with one attempt). */
export function describeFailure(attempt: number, maxAttempts: number, error: string): string {
  return maxAttempts > 1 ? `attempt ${attempt} of ${maxAttempts} failed: ${error}` : `failed: ${error}`;
}

/** "attempt 2 of 4 failed: Error: no route to host — retrying in 5 s" */
export function describePendingRetry(retry: PendingRetry, now: number): string {
  const seconds = Math.ceil((retry.retryAt.getTime() - now) / 1000);
  const when =
    seconds <= 0
      ? "now"
      : seconds < 90
        ? `in ${seconds} s`
        : seconds < 90 * 60
          ? `in ${Math.round(seconds / 60)} min`
          : `in ${Math.round(seconds / 3600)} h`;
  return `${describeFailure(retry.attempt, retry.maxAttempts, retry.error)} — retrying ${when}`;
}
