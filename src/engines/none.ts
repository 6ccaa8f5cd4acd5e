import { TaskledgerError } from "../core/errors.js";
import type { Engine } from "../engine/contract.js";

/** The name of the engine a server ledger has when none is configured. */
export const NO_ENGINE = "none";

/** What to configure before tasks can run on a server ledger. */
export function engineNeeded(dialect: string): TaskledgerError {
  return new TaskledgerError(
    "unavailable",
    `engine: the embedded engine runs on a SQLite ledger only; this ledger is on ${dialect}. ` +
      "Reads, status and migrations work here; to enqueue and run tasks, configure a scale-out engine: " +
      "TASKLEDGER_REDIS_URL=redis://HOST:6379 (BullMQ on Redis)" +
      (dialect === "postgres"
        ? ", or TASKLEDGER_ENGINE=bullmq (BullMQ's PostgreSQL backend in this database)"
        : "") +
      "; or use a sqlite: ledger",
    { field: "engine" },
  );
}

/**
 * The engine of a server ledger (PostgreSQL, MySQL) that was given none: everything that reads
 * the ledger works; an enqueue is refused inside its transaction (so nothing is written) and a
 * worker refuses to start, each saying what to configure.
 */
export function createUnconfiguredEngine(dialect: string): Engine {
  const refuse = () => Promise.reject(engineNeeded(dialect));
  return {
    name: NO_ENGINE,
    // Deliveries are handed over inside the ledger transaction: the refusal rolls the enqueue back.
    delivery: "transaction",
    async migrate() {},
    deliver: refuse,
    // A task canceled while it waits needs no delivery taken back: there never was one.
    async withdraw() {},
    take: refuse,
    async nextDue() {
      return null;
    },
    signalCancel() {},
    onCancel() {
      return () => {};
    },
    async close() {},
  };
}
