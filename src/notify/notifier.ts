import type { Database } from "../ledger/database.js";
import { subscribeWake, wake } from "./sqlite-wal.js";

/**
 * "The ledger changed" — separate from the engine that delivers tasks. Whoever commits a change
 * calls `changed()`; SSE streams, `--wait`, `tasks show --follow`, idle workers and cancel checks
 * subscribe. Every signal is a hint: a subscriber reads the truth from the ledger, so a spurious
 * or coalesced one is harmless, and a missed one is caught by the subscriber's own poll.
 *
 * Implementations: in-process events plus the SQLite WAL watcher (other processes on the same
 * file) today; PostgreSQL LISTEN/NOTIFY and Redis pub/sub for server ledgers.
 */
export interface Notifier {
  /** This process committed a change to the ledger. */
  changed(): void;
  /** Call `listener` when the ledger may have changed — in this process or another. */
  subscribe(listener: () => void): () => void;
}

/** In this process an event; across processes on one SQLite file, the WAL file changing. */
export function createSqliteNotifier(database: Pick<Database, "identity" | "file">): Notifier {
  return {
    changed() {
      wake(database.identity);
    },
    subscribe(listener) {
      return subscribeWake(database.identity, database.file, listener);
    },
  };
}
