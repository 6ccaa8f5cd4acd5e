import type { Delivery } from "../engine/contract.js";
import { holdLease, releaseLease } from "../ledger/leases.js";
import { changedWaitingDeliveries, waitingDeliveries } from "../ledger/queue.js";
import type { Runtime } from "../runtime.js";

/**
 * The relay, for an engine outside the ledger's database (`delivery: "after-commit"`): a delivery
 * is carried after its commit, so a crash in between, or an engine that lost what it held (Redis
 * restarted empty), leaves a task recorded but undelivered. Deliveries are idempotent by task and
 * attempt, and the fenced start drops any that are stale, so handing a waiting row again is always
 * safe; the relay only decides which rows are worth it:
 *
 * - a **recent pass** (every sweep): the waiting rows whose `updated_at` fell in
 *   `[previous cut, now - grace)`. Each row is handed again once, `GRACE_MS` after the write that
 *   made it wait (enqueue, retry, requeue), by when its own after-commit delivery has happened or
 *   never will; most rows have started by then and are not read at all. A write whose commit
 *   lands more than `GRACE_MS` (plus the clocks' skew) after its `now` is left to the deep pass.
 * - a **deep pass** (every waiting row): when this process becomes the relay's leader (worker
 *   start, or taking over from a dead one), when the engine says it may have lost deliveries
 *   (`generation`: Redis's `run_id`, an outage), and every `reconcileIntervalMs`.
 *
 * One process relays at a time: the `relay` lease (as the scheduler's) goes to whoever holds it or
 * finds it expired; the others' passes do nothing. Chosen over a transactional outbox table: an
 * outbox costs an insert and a delete per task in the ledger's commits (which set the
 * throughput), where this costs one indexed read per sweep and one extra delivery only for the
 * rows still waiting after the grace.
 */
export interface Relay {
  /** One pass if this process leads the relay (takes or renews the lease), else nothing. */
  pass(): Promise<RelayPass>;
  /** Give the lease up (clean shutdown), so another process takes over at once. */
  stop(): Promise<void>;
}

export interface RelayPass {
  readonly kind: "none" | "recent" | "deep";
  /** Deliveries handed again. */
  readonly delivered: number;
}

export const RELAY_LEASE = "relay";
/** How long after a write a row is handed again by a recent pass, ms. */
export const GRACE_MS = 5_000;
/** The shortest relay lease: a deep pass of a large backlog must not lose it on the way. */
const MIN_LEASE_MS = 10_000;
const BATCH = 1_000;

export function createRelay(rt: Runtime, holder: string): Relay {
  /** Rows changed from here on have not been handed by this leader yet; undefined: a deep pass is due. */
  let cut: number | undefined;
  let deepAt = 0;
  let generation: string | undefined;
  let leading = false;
  const leaseMs = Math.max(3 * rt.settings.sweepIntervalMs, MIN_LEASE_MS);

  return {
    async pass() {
      if (rt.engine.delivery !== "after-commit") return { kind: "none", delivered: 0 };
      const now = rt.clock.now();
      leading = await holdLease(rt.db, RELAY_LEASE, holder, now, leaseMs);
      if (!leading) {
        cut = undefined; // whoever leads now relays; if this process leads again, it starts deep
        return { kind: "none", delivered: 0 };
      }
      const current = await rt.engine.generation?.();
      const upTo = now - GRACE_MS;
      if (cut === undefined || current !== generation || now - deepAt >= rt.settings.reconcileIntervalMs) {
        cut = undefined; // until this pass completes
        const delivered = await relay(rt);
        [cut, deepAt, generation] = [upTo, now, current];
        return { kind: "deep", delivered };
      }
      if (upTo <= cut) return { kind: "recent", delivered: 0 };
      const from = cut;
      const delivered = await handOver(rt, (after) =>
        changedWaitingDeliveries(rt.db, from, upTo, after, BATCH),
      );
      cut = upTo;
      return { kind: "recent", delivered };
    },
    async stop() {
      if (leading) await releaseLease(rt.db, RELAY_LEASE, holder).catch(() => {});
      leading = false;
    },
  };
}

/**
 * The deep pass: deliver again every task the ledger has waiting. Returns how many were handed
 * over.
 */
export function relay(rt: Runtime): Promise<number> {
  if (rt.engine.delivery !== "after-commit") return Promise.resolve(0);
  return handOver(rt, (after) => waitingDeliveries(rt.db, after, BATCH));
}

/** Hand `read`'s pages (by id, from 0) to the engine; workers that wait hear of it. */
async function handOver(rt: Runtime, read: (afterId: number) => Promise<Delivery[]>): Promise<number> {
  let after = 0;
  let count = 0;
  for (;;) {
    const batch = await read(after);
    if (batch.length === 0) break;
    await (rt.engine.redeliver ? rt.engine.redeliver(batch) : rt.engine.deliver(batch, undefined));
    count += batch.length;
    after = batch.at(-1)!.id;
    if (batch.length < BATCH) break;
  }
  if (count > 0) rt.notifier.changed();
  return count;
}
