import { waitingDeliveries } from "../ledger/queue.js";
import type { Runtime } from "../runtime.js";

const BATCH = 1_000;

/**
 * Deliver again every task the ledger has waiting, for an engine outside the ledger's database
 * (`delivery: "after-commit"`): a delivery is carried after its commit, so a crash in between, or
 * an engine that lost what it held (a restart), leaves a task recorded but undelivered. Deliveries
 * are idempotent by task and attempt, and the fenced start drops any that are stale, so running
 * this at any time is safe. Returns how many were handed over.
 */
export async function relay(rt: Runtime): Promise<number> {
  if (rt.engine.delivery !== "after-commit") return 0;
  let after = 0;
  let count = 0;
  for (;;) {
    const batch = await waitingDeliveries(rt.db, after, BATCH);
    if (batch.length === 0) break;
    await rt.engine.deliver(batch, undefined);
    count += batch.length;
    after = batch.at(-1)!.id;
    if (batch.length < BATCH) break;
  }
  if (count > 0) rt.notifier.changed();
  return count;
}
