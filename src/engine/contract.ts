import type { Kysely } from "kysely";

/**
 * The engine contract: what delivers task ids to workers. Small, and in domain verbs — push,
 * claim, ack, retry later, discard, extend leases, request cancel. The ledger owns everything a
 * human reads; an engine only moves ids. `tx` is the ledger's open transaction: an engine that
 * lives in the same database (embedded) writes inside it, so a task row and its queue entry are
 * made, moved and removed together.
 */
export type Tx = Kysely<any>;

export interface JobSpec {
  readonly id: number;
  readonly queue: string;
  readonly priority: number;
  /** Epoch ms when the job becomes claimable (now, a reservation's time, a retry's time). */
  readonly runAt: number;
}

export interface Claim {
  readonly id: number;
  /** Increments on every claim; fences acks so a stale worker cannot touch a newer claim. */
  readonly attempt: number;
}

export interface ExpiredClaim extends Claim {
  readonly worker: string;
}

export interface ClaimRequest {
  readonly worker: string;
  /** In priority order: all claimable jobs of the first queue come before the second's. */
  readonly queues: readonly string[];
  readonly limit: number;
  readonly leaseMs: number;
  readonly now: number;
}

export interface Engine {
  readonly name: string;
  migrate(): Promise<void>;
  push(tx: Tx, jobs: readonly JobSpec[]): Promise<void>;
  /**
   * Take up to `limit` due jobs for `worker`. Runs inside the caller's write transaction, in which
   * the caller then starts the attempts in the ledger (status, worker, lease): a claim and its
   * start commit together or not at all.
   */
  claim(tx: Tx, request: ClaimRequest): Promise<Claim[]>;
  /** The outcome is recorded: forget these jobs. */
  ack(tx: Tx, claims: readonly Claim[]): Promise<void>;
  /** Deliver a claimed job again at `runAt` (retry with backoff, requeue); the ledger has already written `run_at`. */
  retryAt(tx: Tx, claim: Claim, runAt: number): Promise<void>;
  /** Drop jobs that will never run (canceled before they started). */
  discard(tx: Tx, ids: readonly number[]): Promise<void>;
  requestCancel(tx: Tx, id: number): Promise<void>;
  /** Ids held by `worker` whose cancel was requested. */
  cancelRequested(worker: string): Promise<number[]>;
  /** Claims whose lease ran out (their worker died); the caller requeues or fails them. */
  expired(tx: Tx, now: number, limit: number): Promise<ExpiredClaim[]>;
  /** Earliest time a job in these queues becomes claimable, or null when none waits. */
  nextRunAt(queues: readonly string[]): Promise<number | null>;
  /** Call after a commit that pushed, released or asked to cancel: wakes workers. */
  notify(): void;
  /** Subscribe to "there may be work or a cancel" — from this process and others. */
  onWake(listener: () => void): () => void;
  close(): Promise<void>;
}
