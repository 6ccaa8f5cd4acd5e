import * as ledger from "../ledger/ledger.js";
import { runningAttempts } from "../ledger/queries.js";
import type { NotificationRow } from "../ledger/schema.js";
import type { Runtime } from "../runtime.js";
import { recordRunOutcomes } from "../scheduler/store.js";

export interface SweepReport {
  readonly requeued: number;
  readonly failed: number;
  /** Tasks whose cancel was requested before their worker died: canceled, not run again. */
  readonly canceled: number;
  readonly promoted: number;
}

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
      for (const claim of expired) {
        const row = rows.get(claim.id);
        if (!row) {
          await rt.engine.discard(tx, [claim.id]); // its task is no longer running: nothing to deliver
          continue;
        }
        if (row.cancel_requested_at !== null) {
          // Its owner asked it to stop: honour that rather than run it again.
          const log = `Canceled; worker ${claim.worker} stopped responding during attempt ${row.attempts}`;
          const outcome = { kind: "canceled", id: claim.id, attempts: Number(row.attempts), log } as const;
          const written = await ledger.settleOutcomes(tx, [outcome], now);
          notes.push(...written.notifications);
          await rt.engine.ack(tx, [claim]);
          canceled++;
          continue;
        }
        const spent = Number(row.attempts) >= Number(row.max_attempts);
        const log = spent
          ? `Failed for: worker ${claim.worker} stopped responding during attempt ${row.attempts} and no attempts are left`
          : `Worker ${claim.worker} stopped responding during attempt ${row.attempts}; requeued`;
        const written = await ledger.releaseRunning(
          tx,
          [{ id: claim.id, attempts: Number(row.attempts) }],
          log,
          spent,
          now,
        );
        notes.push(...written.notifications);
        await recordRunOutcomes(tx, written.value, now);
        if (spent) {
          await rt.engine.ack(tx, [claim]);
          failed++;
        } else {
          await rt.engine.retryAt(tx, claim, now);
          requeued++;
        }
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
