import type { Delivery } from "../../src/engine/contract.js";
import type { Taskledger } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import * as ledger from "../../src/ledger/ledger.js";

/**
 * Take what is due for a worker and start it, in one round, as a worker does: the engine's take
 * and the ledger's fenced start in one transaction. `taken` is what the engine handed over,
 * `started` the ids the ledger started.
 */
export async function takeAndStart(
  tl: Taskledger,
  { worker = "w", now = Date.now(), queues = ["default"], leaseMs = 1_000 } = {},
): Promise<{ taken: Delivery[]; started: number[] }> {
  const rt = runtimeOf(tl);
  return rt.write(async (tx, commit) => {
    const taken = await commit.take({ worker, queues, limit: 10, now });
    const started = await ledger.startAttempts(tx, taken, now, { worker, leaseUntil: now + leaseMs });
    return { taken, started: started.value.map((row) => Number(row.id)) };
  });
}
