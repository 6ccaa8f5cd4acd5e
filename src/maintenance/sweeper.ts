import type { Outcome } from "../ledger/ledger.js";
import * as ledger from "../ledger/ledger.js";
import type { Runtime } from "../runtime.js";
import { settle } from "../worker/settle.js";

export interface SweepReport {
  readonly requeued: number;
  readonly failed: number;
  /** Tasks whose cancel was requested before their worker died: canceled, not run again. */
  readonly canceled: number;
  readonly promoted: number;
}

/** Why a lease lapses, for the log a person reads. */
const STOPPED_RESPONDING =
  "its lease lapsed: the process died or was paused, or a handler blocked its event loop — run CPU-bound handlers with isolation: 'thread'";

/**
 * Recover what dead workers held and keep statuses honest. An attempt whose lease ran out
 * belongs to a worker that stopped heart-beating: its task goes back to `queued` (delivered
 * again), or is failed once its attempts are spent, or is canceled when a cancel was requested —
 * through the one settle pipeline, as any outcome. Due reservations are shown as `queued`.
 * Runs in every worker; safe to run concurrently (one transaction, fenced writes).
 */
export async function sweep(rt: Runtime): Promise<SweepReport> {
  const now = rt.clock.now();
  return rt.write(async (tx, commit) => {
    const outcomes: Outcome[] = [];
    for (const lapsed of await ledger.expiredAttempts(tx, now, 1_000)) {
      const { id, attempts } = lapsed;
      const silent = `worker ${lapsed.worker} stopped responding during attempt ${attempts}`;
      const why = `(${STOPPED_RESPONDING})`;
      if (lapsed.cancelRequested) {
        // Its owner asked it to stop: honour that rather than run it again.
        outcomes.push({ kind: "canceled", id, attempts, log: `Canceled; ${silent} ${why}` });
        continue;
      }
      // The attempt counts: a task that kills or stalls its worker every time must end.
      const spent = attempts >= lapsed.maxAttempts;
      const log = spent
        ? `Failed for: ${silent} and no attempts are left ${why}`
        : `W${silent.slice(1)}; requeued ${why}`;
      outcomes.push({ kind: "failure", id, attempts, log, retryAt: spent ? null : now });
    }
    let requeued = 0;
    let failed = 0;
    let canceled = 0;
    for (const { outcome, row } of (await settle(commit, outcomes, now)).applied) {
      if (outcome.kind === "canceled") canceled++;
      else if (row.status === "queued") requeued++;
      else failed++;
    }
    const promoted = await ledger.promoteDueReservations(tx, now);
    if (promoted > 0) commit.changed();
    await ledger.removeSilentWorkers(tx, now - Math.max(3 * rt.settings.leaseMs, 60_000));
    return { requeued, failed, canceled, promoted };
  });
}
