import { EventEmitter } from "node:events";
import { type Delivery, type Engine, takeOrder } from "../../engine/contract.js";

/**
 * An engine that keeps its deliveries in this process's memory: the second implementation of the
 * contract (beside the embedded one), with the ledger on any database. It carries deliveries
 * after each commit, exactly as an engine on another server does, so it exercises the relay: a
 * delivery lost before it was carried (a crash, a restart — memory is gone) is delivered again
 * from the ledger's waiting rows. Used by the conformance suite and `taskledger/testing`; one
 * process only.
 */
export function createMemoryEngine(): Engine {
  /**
   * Per queue: deliveries not yet due, earliest first, and due ones in the order a take hands them
   * out (priority, then time, then id). A withdrawn or taken delivery leaves `live` and is skipped
   * when it reaches the top of its heap.
   */
  const queues = new Map<string, { later: Heap<Delivery>; due: Heap<Delivery> }>();
  const live = new Map<string, Delivery>();
  const byTask = new Map<number, Set<string>>();
  const signals = new EventEmitter();
  signals.setMaxListeners(0);

  const key = (d: Pick<Delivery, "id" | "attempt">) => `${d.id}-${d.attempt}`;
  const remove = (d: Delivery) => {
    live.delete(key(d));
    const keys = byTask.get(d.id);
    keys?.delete(key(d));
    if (keys?.size === 0) byTask.delete(d.id);
  };
  const isLive = (d: Delivery) => live.get(key(d)) === d;
  /** The live top of `heap`, dropping what was taken or withdrawn. */
  const top = (heap: Heap<Delivery>) => {
    while (heap.size > 0 && !isLive(heap.peek()!)) heap.pop();
    return heap.peek();
  };

  return {
    name: "memory",
    delivery: "after-commit",

    async migrate() {},

    async deliver(deliveries) {
      for (const d of deliveries) {
        if (live.has(key(d))) continue;
        let queue = queues.get(d.queue);
        if (!queue) {
          queue = {
            later: new Heap((a, b) => a.runAt - b.runAt || a.id - b.id),
            due: new Heap(takeOrder),
          };
          queues.set(d.queue, queue);
        }
        live.set(key(d), d);
        queue.later.push(d);
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
        for (const k of byTask.get(id) ?? []) live.delete(k);
        byTask.delete(id);
      }
    },

    async take(request) {
      const taken: Delivery[] = [];
      for (const name of request.queues) {
        const queue = queues.get(name);
        if (!queue) continue;
        // What has come due joins the due deliveries, in their order.
        for (let d = top(queue.later); d && d.runAt <= request.now; d = top(queue.later)) {
          queue.later.pop();
          queue.due.push(d);
        }
        for (let d = top(queue.due); d && taken.length < request.limit; d = top(queue.due)) {
          queue.due.pop();
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
        const queue = queues.get(name);
        if (!queue) continue;
        for (const d of [top(queue.due), top(queue.later)]) {
          if (d && (next === null || d.runAt < next)) next = d.runAt;
        }
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
      live.clear();
      byTask.clear();
    },
  };
}

/** A binary heap: `pop` gives the least by `before` (negative: a comes first). */
class Heap<T> {
  readonly #items: T[] = [];
  constructor(readonly before: (a: T, b: T) => number) {}

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.before(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const first = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < items.length && this.before(items[left]!, items[least]!) < 0) least = left;
        if (right < items.length && this.before(items[right]!, items[least]!) < 0) least = right;
        if (least === i) break;
        [items[i], items[least]] = [items[least]!, items[i]!];
        i = least;
      }
    }
    return first;
  }
}
