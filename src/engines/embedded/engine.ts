import type { Kysely } from "kysely";
import type { Delivery, Engine } from "../../engine/contract.js";
import type { Database } from "../../ledger/database.js";
import type { Db } from "../../ledger/ledger.js";
import { runMigrations } from "../../ledger/migrations.js";
import { dueDeliveries, nextRunAt } from "../../ledger/queue.js";
import { embeddedMigrations } from "./schema.js";

/**
 * The embedded engine: the ledger is the queue. A waiting task's own row in `tasks` is its
 * delivery (queue, priority, `run_at`), so an enqueue writes one row and nothing beside it, and
 * there is nothing to deliver or withdraw beside the ledger's own writes. A worker's round takes
 * the next rows from the `tasks_queue` index inside its `BEGIN IMMEDIATE` transaction, in which
 * the ledger's fenced start makes them `running`: atomic across every process on the file.
 * Cancel requests are ledger writes; the notifier (the WAL file changing) wakes the holder,
 * which reads them — so this engine carries no signal of its own.
 */
export function createEmbeddedEngine(database: Database): Engine {
  const db = database.db as unknown as Kysely<any>;
  return {
    name: "embedded",
    delivery: "ledger",

    async migrate() {
      await runMigrations(db, embeddedMigrations(), "taskledger_embedded_migrations");
    },

    // The ledger's waiting row is the delivery.
    async deliver() {},
    async withdraw() {},

    async take(request, tx) {
      const taken: Delivery[] = [];
      for (const queue of request.queues) {
        const want = request.limit - taken.length;
        if (want <= 0) break;
        taken.push(...(await dueDeliveries(tx as Db, queue, request.now, want)));
      }
      return taken;
    },

    nextDue(queues) {
      return nextRunAt(db, queues);
    },

    // A cancel request is a ledger write: the notifier wakes the holder, which reads it.
    signalCancel() {},
    onCancel() {
      return () => {};
    },

    async close() {},
  };
}
