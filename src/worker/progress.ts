/**
 * A running attempt's progress reports, coalesced: a handler may report in a tight loop (every
 * item of a million), and each report is a ledger write. At most one write per attempt is in
 * flight; reports made meanwhile collapse into the latest, written when the one in flight ends.
 * A report of the value last written (or about to be), without data, writes nothing. Each
 * report's promise settles once its value — or a later one — is written.
 */
export function coalescedProgress(
  write: (progress: number, data: Record<string, unknown> | undefined) => Promise<void>,
): (progress: number, data?: Record<string, unknown>) => Promise<void> {
  let last: number | undefined;
  let running: Promise<void> | undefined;
  let next: { progress: number; data: Record<string, unknown> | undefined } | undefined;
  let nextWritten: Promise<void> | undefined;

  const start = (progress: number, data: Record<string, unknown> | undefined): Promise<void> => {
    last = progress;
    const current = write(progress, data).finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  };

  return (progress, data) => {
    if (data === undefined && progress === (next?.progress ?? last))
      return nextWritten ?? running ?? Promise.resolve();
    if (!running) return start(progress, data);
    next = { progress, data };
    nextWritten ??= running
      .catch(() => {})
      .then(() => {
        const report = next!;
        next = undefined;
        nextWritten = undefined;
        return start(report.progress, report.data);
      });
    return nextWritten;
  };
}
