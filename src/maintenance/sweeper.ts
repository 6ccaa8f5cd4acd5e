import * as ledger from "../ledger/ledger.js";
import { runningAttempts } from "../ledger/queries.js";
import type { NotificationRow } from "../ledger/schema.js";
import type { Runtime } from "../runtime.js";
import { type Settlement, settle } from "../worker/settle.js";

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
 * Recover what dead workers held and keep statuses honest. A claim whose lease ran out belongs
 * to a worker that stopped heart-beating: its task goes back to `queued`, or is failed once its
 * attempts are spent, or is canceled when a cancel was requested. Due reservations are shown as `queued`. Runs in every worker; safe to
 * run concurrently (one transaction, fenced writes).
 */
export async function sweep(
  rt: Runtime,
  publish: (rows: readonly NotificationRow[]) => void = (rows) => rt.bus.publish(rows),
): Promise<SweepReport> {
  const now = rt.clock.now();
  const report = await rt.transaction(async (tx) => {
    const notes: NotificationRow[] = [];
    let requeued = 0;
    let failed = 0;
    let canceled = 0;
    const expired = await rt.engine.expired(tx, now, 1_000);
    if (expired.length > 0) {
      const rows = new Map(
        (
          await runningAttempts(
            tx,
            expired.map((c) => c.id),
          )
        ).map((r) => [Number(r.id), r]),
      );
      const items: Settlement[] = [];
      for (const claim of expired) {
        const row = rows.get(claim.id);
        if (!row) {
          await rt.engine.discard(tx, [claim.id]); // its task is no longer running: nothing to deliver
          continue;
        }
        const attempts = Number(row.attempts);
        const silent = `worker ${claim.worker} stopped responding during attempt ${attempts}`;
        const why = `(${STOPPED_RESPONDING})`;
        if (row.cancel_requested_at !== null) {
          // Its owner asked it to stop: honour that rather than run it again.
          items.push({
            claim,
            outcome: { kind: "canceled", id: claim.id, attempts, log: `Canceled; ${silent} ${why}` },
          });
          continue;
        }
        // The attempt counts: a task that kills or stalls its worker every time must end.
        const spent = attempts >= Number(row.max_attempts);
        const log = spent
          ? `Failed for: ${silent} and no attempts are left ${why}`
          : `W${silent.slice(1)}; requeued ${why}`;
        items.push({
          claim,
          outcome: { kind: "failure", id: claim.id, attempts, log, retryAt: spent ? null : now },
        });
      }
      const settled = await settle(tx, rt.engine, items, now);
      notes.push(...settled.notifications);
      for (const { outcome, row } of settled.applied) {
        if (outcome.kind === "canceled") canceled++;
        else if (row.status === "queued") requeued++;
        else failed++;
      }
    }
    const promoted = await ledger.promoteDueReservations(tx, now);
    await tx
      .deleteFrom("workers")
      .where("last_seen_at", "<", now - Math.max(3 * rt.settings.leaseMs, 60_000))
      .execute();
    return { requeued, failed, canceled, promoted, notes };
  });
  publish(report.notes);
  if (report.requeued > 0) rt.engine.notify();
  const { requeued, failed, canceled, promoted } = report;
  return { requeued, failed, canceled, promoted };
}
