import { type Delivery, takeOrder } from "../../engine/contract.js";
import type { JobOptions } from "./driver.js";

/**
 * What a delivery is as a BullMQ job, on either backend (Redis, PostgreSQL): its id, its data,
 * its priority and its delay. One definition, so a job written by one engine reads the same in
 * the other's tools.
 */

/**
 * Taskledger priorities lie in ±1 000 000, higher first; BullMQ's lie in 1…2 097 152, lower
 * first, and 0 means "none" — a job without one is taken before every prioritized job, so every
 * job here carries one.
 */
const PRIORITY_OFFSET = 1_000_001;
export const toBullmqPriority = (priority: number): number => PRIORITY_OFFSET - priority;
export const fromBullmqPriority = (priority: number): number => PRIORITY_OFFSET - priority;

/** `t{taskId}-{attempt}`: a retry is a new job, never swallowed by an old attempt's id. */
export const jobIdOf = (d: Pick<Delivery, "id" | "attempt">): string => `t${d.id}-${d.attempt}`;
/** BullMQ refuses `:` in queue names; taskledger allows it (and never `%`). */
export const bullmqQueueName = (queue: string): string => queue.replaceAll(":", "%3A");

/** What a job carries: which attempt, and the ledger's time for it (BullMQ forgets a delay once it is promoted). */
export interface JobData {
  readonly taskId: number;
  readonly attempt: number;
  readonly runAt: number;
}

/** A delivery as the job BullMQ stores (no payload: that is the ledger's). `now` is this host's clock. */
export function jobOf(d: Delivery, now: number): { name: "task"; data: JobData; opts: JobOptions } {
  return {
    name: "task",
    data: { taskId: d.id, attempt: d.attempt, runAt: d.runAt },
    opts: {
      jobId: jobIdOf(d),
      priority: toBullmqPriority(d.priority),
      // BullMQ's delayed time is timestamp + delay: exactly the ledger's runAt.
      timestamp: Math.min(d.runAt, now),
      delay: Math.max(0, d.runAt - now),
      removeOnComplete: true,
      // A failed job would keep its id and block the relay's redelivery: none is kept.
      removeOnFail: true,
    },
  };
}

/** The delivery a job of taskledger queue `queue` carries, or undefined when it is not a taskledger job. */
export function deliveryOf(data: unknown, bullmqPriority: number, queue: string): Delivery | undefined {
  const d = data as Partial<JobData> | null;
  if (!d || !Number.isSafeInteger(d.taskId) || !Number.isSafeInteger(d.attempt) || !Number.isFinite(d.runAt))
    return undefined;
  return {
    id: d.taskId!,
    attempt: d.attempt!,
    queue,
    priority: fromBullmqPriority(bullmqPriority),
    runAt: d.runAt!,
  };
}

/** A cancel signal between processes: who sent it (a process skips its own) and which tasks. */
export function parseCancel(message: string): { from: string; ids: number[] } | undefined {
  try {
    const value = JSON.parse(message) as { from?: unknown; ids?: unknown };
    if (typeof value.from !== "string" || !Array.isArray(value.ids)) return undefined;
    return { from: value.from, ids: value.ids.filter((id): id is number => Number.isSafeInteger(id)) };
  } catch {
    return undefined;
  }
}

/**
 * The order a round takes jobs in (those fetched ahead arrive from several fetches): the worker's
 * queues in its order, then each queue's `takeOrder`.
 */
export function aheadOrder(queues: readonly string[]): (a: Delivery, b: Delivery) => number {
  const order = new Map(queues.map((name, i) => [name, i]));
  return (a, b) => order.get(a.queue)! - order.get(b.queue)! || takeOrder(a, b);
}

/**
 * What a round of these queues takes from jobs fetched ahead: up to `limit` of those `usable`, in
 * `aheadOrder`. `delivery` reads an item's delivery.
 */
export function pickAhead<T>(
  items: readonly T[],
  delivery: (item: T) => Delivery,
  queues: readonly string[],
  limit: number,
  usable: (d: Delivery) => boolean = () => true,
): T[] {
  const mine = new Set(queues);
  const order = aheadOrder(queues);
  return items
    .filter((item) => mine.has(delivery(item).queue) && usable(delivery(item)))
    .sort((a, b) => order(delivery(a), delivery(b)))
    .slice(0, limit);
}
