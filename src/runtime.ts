import type { Clock } from "./core/clock.js";
import type { Commit } from "./engine/commit.js";
import type { Engine } from "./engine/contract.js";
import type { Database } from "./ledger/database.js";
import type { Db } from "./ledger/ledger.js";
import type { NotificationBus } from "./notify/bus.js";
import type { Notifier } from "./notify/notifier.js";
import type { TaskRegistry } from "./tasks/registry.js";

/** Compiled settings every part reads; frozen at `createTaskledger`. */
export interface Settings {
  readonly reservationLeadSeconds: number;
  /** How far ahead a reservation (or a schedule's start) may be, days. */
  readonly reservationHorizonDays: number;
  /** The largest payload or result, in bytes of JSON (UTF-8). */
  readonly maxJsonBytes: number;
  /** Declared queue names, in priority order; undefined = any name is accepted. */
  readonly queues: readonly string[] | undefined;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly sweepIntervalMs: number;
  /** How often the relay hands every waiting task again to an engine outside the ledger, ms. */
  readonly reconcileIntervalMs: number;
  /** Fallback check for work when no wake-up arrives (file watching unavailable). */
  readonly pollIntervalMs: number;
  readonly shutdownGraceMs: number;
  /** What workers prune, and how often (src/maintenance/prune.ts); false: they prune nothing. */
  readonly retention:
    | { readonly maxAgeMs: number; readonly scheduleRuns: number; readonly intervalMs: number }
    | false;
}

/** The explicit dependencies of the client, worker and sweeper (no hidden globals). */
export interface Runtime {
  readonly database: Database;
  readonly db: Db;
  readonly engine: Engine;
  readonly registry: TaskRegistry;
  readonly clock: Clock;
  readonly settings: Settings;
  /** In-process feed of notifications written by this instance (SSE, the CLI's task lines). */
  readonly bus: NotificationBus;
  /** "The ledger changed": SSE, `--wait`, idle workers and cancel checks listen to it. */
  readonly notifier: Notifier;
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * One ledger transaction and what it owes once committed (`Commit`): deliveries to an engine
   * outside the ledger, cancel signals, notifications to this process's listeners, "changed".
   */
  write<T>(fn: (tx: Db, commit: Commit) => Promise<T>): Promise<T>;
  /** Resolves once migrations have run (when `migrate` is on); every public call awaits it. */
  ready(): Promise<void>;
}
