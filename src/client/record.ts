import type { Commit } from "../engine/commit.js";
import type { Db, NewTask } from "../ledger/ledger.js";
import * as ledger from "../ledger/ledger.js";
import { toDelivery } from "../ledger/rows.js";
import type { TaskRow } from "../ledger/schema.js";
import { insertTasksOnce, type Recorded } from "./idempotency.js";

/**
 * The task service's writes, in a transaction the caller holds (`commit`): the task service's
 * own calls and the scheduler's runs go through these, so that recording a task, delivering it
 * and taking it back are written once.
 */

/** Record new tasks (one per idempotency key) and deliver those written. */
export async function recordTasks(commit: Commit, tasks: readonly NewTask[], now: number): Promise<Recorded> {
  const recorded = await insertTasksOnce(commit.tx as Db, tasks, now);
  await commit.deliver(recorded.inserted, toDelivery);
  return recorded;
}

/**
 * Cancel a task: a waiting one (`reserved`/`queued`) is canceled at once and its delivery taken
 * back; a running one is asked to stop — its holder's signal fires after the commit. Returns the
 * row as it now stands, or null when it was in neither state (or past its point of no return).
 */
export async function cancelTask(
  commit: Commit,
  row: Pick<TaskRow, "id" | "status">,
  log: string,
  now: number,
): Promise<TaskRow | null> {
  const tx = commit.tx as Db;
  if (row.status === "running") {
    const asked = await ledger.requestCancel(tx, row.id, now);
    if (asked) commit.cancel([row.id]);
    return asked;
  }
  if (row.status !== "queued" && row.status !== "reserved") return null;
  const written = await ledger.cancelWaiting(tx, row.id, [row.status], log, now);
  if (!written.value) return null;
  commit.publish(written.notifications);
  await commit.withdraw([written.value]);
  return written.value;
}
