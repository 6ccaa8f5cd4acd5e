import type { Database } from "../ledger/database.js";
import { subscribeWake, wake } from "./sqlite-wal.js";

/**
 * "The ledger changed" — separate from the engine that delivers tasks. Whoever commits a change
 * calls `changed()`; SSE streams, `--wait`, `tasks show --follow`, idle workers and cancel checks
 * subscribe. Every signal is a hint: a subscriber reads the truth from the ledger, so a spurious
 * or coalesced one is harmless, and a missed one is caught by the subscriber's own poll.
 *
 * Implementations: on SQLite, in-process events plus the WAL watcher (other processes on the same
 * file); on a server ledger, a channel between processes (`channel.ts`): PostgreSQL
 * LISTEN/NOTIFY, Redis pub/sub, or a poll of the ledger where neither is at hand.
 */
export interface Notifier {
  /** This process committed a change to the ledger. */
  changed(): void;
  /** Call `listener` when the ledger may have changed — in this process or another. */
  subscribe(listener: () => void): () => void;
  /**
   * This process committed notifications. Its own listeners have them from the bus; other
   * processes hear of them here (on SQLite they see the commit itself).
   */
  published?(): void;
  /** Announce what is still pending, stop listening (`tl.close()`). */
  close?(): Promise<void>;
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
