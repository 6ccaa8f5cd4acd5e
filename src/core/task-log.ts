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
 * Why attempt `attempt` failed, in one line, as its entry says (without the `attempt N: Failed
 * for: ` label); undefined when the log has no entry for it.
 */
export function attemptFailure(log: string | null, attempt: number): string | undefined {
  const label = `attempt ${attempt}: `;
  const line = log
    ?.split("\n")
    .reverse()
    .find((l) => l.startsWith(label));
  return line?.slice(label.length).replace(/^Failed for: /, "");
}
