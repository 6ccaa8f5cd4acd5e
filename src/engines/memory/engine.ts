import { EventEmitter } from "node:events";
import type { Delivery, Engine } from "../../engine/contract.js";

/**
 * An engine that keeps its deliveries in this process's memory: the second implementation of the
 * contract (beside the embedded one), with the ledger on any database. It carries deliveries
 * after each commit, exactly as an engine on another server does, so it exercises the relay: a
 * delivery lost before it was carried (a crash, a restart — memory is gone) is delivered again
 * from the ledger's waiting rows. Used by the conformance suite and `taskledger/testing`; one
 * process only.
 */
export function createMemoryEngine(): Engine {
  /** By queue, then by key `id-attempt` (a repeat of the same delivery changes nothing). */
  const queues = new Map<string, Map<string, Delivery>>();
  const byTask = new Map<number, Set<string>>();
  const signals = new EventEmitter();
  signals.setMaxListeners(0);

  const key = (d: Pick<Delivery, "id" | "attempt">) => `${d.id}-${d.attempt}`;
  const remove = (d: Delivery) => {
    queues.get(d.queue)?.delete(key(d));
    const keys = byTask.get(d.id);
    keys?.delete(key(d));
    if (keys?.size === 0) byTask.delete(d.id);
  };
  const order = (a: Delivery, b: Delivery) => b.priority - a.priority || a.runAt - b.runAt || a.id - b.id;

  return {
    name: "memory",
    delivery: "after-commit",

    async migrate() {},

    async deliver(deliveries) {
      for (const d of deliveries) {
        let queue = queues.get(d.queue);
        if (!queue) {
          queue = new Map();
          queues.set(d.queue, queue);
        }
        if (queue.has(key(d))) continue;
        queue.set(key(d), d);
        let keys = byTask.get(d.id);
        if (!keys) {
          keys = new Set();
          byTask.set(d.id, keys);
        }
        keys.add(key(d));
      }
    },

    async withdraw(withdrawn) {
      for (const { id } of withdrawn) {
        for (const k of byTask.get(id) ?? []) {
          for (const queue of queues.values()) queue.delete(k);
        }
        byTask.delete(id);
      }
    },

    async take(request) {
      const taken: Delivery[] = [];
      for (const name of request.queues) {
        const queue = queues.get(name);
        if (!queue) continue;
        const due = [...queue.values()].filter((d) => d.runAt <= request.now).sort(order);
        for (const d of due.slice(0, request.limit - taken.length)) {
          remove(d);
          taken.push(d);
        }
        if (taken.length >= request.limit) break;
      }
      return taken;
    },

    async nextDue(names) {
      let next: number | null = null;
      for (const name of names) {
        for (const d of queues.get(name)?.values() ?? []) if (next === null || d.runAt < next) next = d.runAt;
      }
      return next;
    },

    signalCancel(ids) {
      signals.emit("cancel", ids);
    },

    onCancel(listener) {
      signals.on("cancel", listener);
      return () => signals.off("cancel", listener);
    },

    async close() {
      queues.clear();
      byTask.clear();
    },
  };
}
