/**
 * The engine contract. Glossary:
 *
 * - **ledger** — the tables a person reads (`tasks`, …). It decides: status, attempts, leases,
 *   cancel requests, `run_at`, results and progress are ledger writes, whatever the engine.
 * - **delivery** — "attempt `attempt` of task `id` may start at `runAt`". The engine carries
 *   deliveries to workers; that is all it does with tasks.
 * - **fenced start** — a worker starts an attempt only through the ledger's start, which matches
 *   the task's row at `attempts = attempt - 1` in a waiting status with `run_at <= now`. A
 *   duplicate, ghost or stale delivery therefore starts nothing: deliveries may be repeated.
 * - **round** — one ledger transaction of a worker: write finished outcomes, take deliveries,
 *   start them.
 *
 * Only `deliver`, `withdraw`, `take` and `signalCancel` see the ledger's open transaction — an
 * engine that lives in the ledger's database acts inside it (a rollback takes its work back); any
 * other ignores it and acts after the commit (`afterCommit`), relying on the relay to redeliver
 * what a crash in between lost. Every verb does real work in at least one engine.
 */
/**
 * The ledger's open transaction, opaque here: an engine that lives in the ledger's database
 * (the embedded one, BullMQ's PostgreSQL backend) knows its type; any other never touches it.
 */
export type Tx = object;

export interface Delivery {
  readonly id: number;
  /** The attempt that may start: the task's `attempts` + 1 when the delivery was made. */
  readonly attempt: number;
  readonly queue: string;
  readonly priority: number;
  /** Epoch ms from when it may start (now, a reservation's time, a retry's time). */
  readonly runAt: number;
}

/**
 * The order due deliveries of one queue are taken in, as the ledger orders waiting tasks: higher
 * priority first, then earlier `runAt`, then lower id.
 */
export function takeOrder(a: Delivery, b: Delivery): number {
  return b.priority - a.priority || a.runAt - b.runAt || a.id - b.id;
}

/** What a withdrawal names: the delivery of a waiting task's next attempt. */
export type Withdrawal = Pick<Delivery, "id" | "attempt" | "queue">;

export interface TakeRequest {
  readonly worker: string;
  /** In priority order: due deliveries of the first queue come before the second's. */
  readonly queues: readonly string[];
  readonly limit: number;
  readonly now: number;
  /**
   * The worker's tasks finish quickly (every slot was free when this round began): it will take
   * about as many again right after this round commits. An engine outside the ledger may fetch
   * them meanwhile, so the next round need not wait for it.
   */
  readonly ahead?: boolean;
}

/**
 * Where an engine keeps its deliveries, which says when `deliver` and `withdraw` act:
 * - `"ledger"`: the ledger's waiting rows are the deliveries (the embedded engine reads its
 *   queue from `tasks`): nothing to carry beside them.
 * - `"transaction"`: in the ledger's database — written inside the ledger transaction.
 * - `"after-commit"`: elsewhere (Redis, memory) — carried once the ledger transaction commits;
 *   the relay redelivers what a crash between commit and delivery lost.
 */
export type DeliveryMode = "ledger" | "transaction" | "after-commit";

export interface Engine {
  readonly name: string;
  readonly delivery: DeliveryMode;
  /** Create or update what the engine keeps. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /** Carry these deliveries (idempotent by id and attempt: a repeat changes nothing). */
  deliver(deliveries: readonly Delivery[], tx: Tx | undefined): Promise<void>;
  /**
   * The relay's `deliver` (after-commit engines): carry again those of these deliveries the
   * engine does not have. For an engine where asking is cheaper than a repeated delivery (most of
   * them are there, still waiting); without it the relay calls `deliver`.
   */
  redeliver?(deliveries: readonly Delivery[]): Promise<void>;
  /** Take back the deliveries of tasks that will never start (canceled while waiting). */
  withdraw(deliveries: readonly Withdrawal[], tx: Tx | undefined): Promise<void>;
  /**
   * Hand up to `limit` due deliveries to a worker's round, inside the round's transaction `tx`
   * (in which the ledger's fenced start follows). Taken deliveries are consumed: one that the
   * start refuses (stale, a duplicate) is dropped.
   */
  take(request: TakeRequest, tx: Tx): Promise<Delivery[]>;
  /**
   * The round that took these deliveries committed: their fenced start is decided, so the engine
   * may let them go for good. For an engine outside the ledger's database, which cannot consume a
   * delivery inside the round's transaction (BullMQ completes its jobs here; until then its lock
   * and stall check keep them). Not called when the round failed: what it took must come back.
   * Engines that consume in `take` leave it out.
   */
  taken?(deliveries: readonly Delivery[]): Promise<void>;
  /**
   * The round that took these deliveries failed (its transaction rolled back): hand them back now,
   * not once their lock lapses (BullMQ's stall check, `lockMs` later). The engines that consume in
   * `take` leave it out: the rollback hands their deliveries back.
   */
  untaken?(deliveries: readonly Delivery[]): Promise<void>;
  /** The earliest `runAt` among deliveries of these queues not yet due, or null when none waits. */
  nextDue(queues: readonly string[], now: number): Promise<number | null>;
  /**
   * Carry "cancel the running attempt of these tasks" to whichever process holds them. An engine
   * in the ledger's database (`"transaction"`) is given the cancel's open transaction and sends
   * inside it: the signal leaves at the commit, and never for a rollback. Any other is called
   * after the commit, without one.
   */
  signalCancel(ids: readonly number[], tx?: Tx): void | Promise<void>;
  /** Hear cancel signals (from this process and others). */
  onCancel(listener: (ids: readonly number[]) => void): () => void;
  /**
   * Hear that deliveries may be waiting (from this process and others): idle workers take. For an
   * engine outside the ledger, whose deliveries arrive after the commit that the ledger's own
   * wake-up (`Notifier`) reports. Engines whose deliveries are the ledger's rows leave it out.
   */
  onDelivered?(listener: () => void): () => void;
  /**
   * For an engine outside the ledger (`after-commit`): names the store's current life, and changes
   * whenever deliveries it had taken may be gone — Redis restarted (a new `run_id`) or came back
   * after an outage. The relay then delivers every waiting task again (its deep pass).
   */
  generation?(): Promise<string>;
  close(): Promise<void>;
}
