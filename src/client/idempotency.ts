import { TaskledgerError } from "../core/errors.js";
import type { Db, NewTask } from "../ledger/ledger.js";
import { insertTasks } from "../ledger/ledger.js";
import { taskByIdempotencyKey } from "../ledger/queries.js";
import type { TaskRow } from "../ledger/schema.js";

/** What `insertTasksOnce` did with each new task, in the order given. */
export interface Recorded {
  /** The task each new task is: the row just written, or the one its idempotency key already named. */
  readonly rows: TaskRow[];
  /** False where the key named a task written before (by an earlier call or an earlier item). */
  readonly created: boolean[];
  /** The rows written by this call, each once: what the engine must be given. */
  readonly inserted: TaskRow[];
}

/** The part of a new task its idempotency key vouches for: what runs, with what, and when. */
type Request = Pick<NewTask, "name" | "payload" | "reservedAt">;

/**
 * Insert new tasks, one per (owner, idempotency key): a task whose key names an existing task,
 * or an earlier task of the same list, is that task and is not written again. Call it inside the
 * write transaction (`BEGIN IMMEDIATE` on SQLite), so no other writer — in this process or
 * another — comes between the lookup and the insert; the unique index cannot do this alone, since
 * it treats owner-less tasks as all distinct. A key reused for another request is a `conflict`
 * and nothing is written.
 */
export async function insertTasksOnce(tx: Db, tasks: readonly NewTask[], now: number): Promise<Recorded> {
  if (!tasks.some((task) => task.idempotencyKey != null)) {
    const inserted = await insertTasks(tx, tasks, now);
    return { rows: inserted, created: tasks.map(() => true), inserted };
  }
  const fresh: NewTask[] = [];
  // Per task: the row its key already names, or the index in `fresh` of the task written for it.
  const sources: (TaskRow | number)[] = [];
  const created: boolean[] = [];
  const byKey = new Map<string, TaskRow | number>();
  for (const task of tasks) {
    const key = task.idempotencyKey;
    const scope = key == null ? undefined : JSON.stringify([task.owner, key]);
    let source = scope === undefined ? undefined : byKey.get(scope);
    if (source === undefined && key != null) source = await taskByIdempotencyKey(tx, task.owner, key);
    if (source === undefined) {
      source = fresh.push(task) - 1;
      created.push(true);
    } else {
      const first = typeof source === "number" ? fresh[source]! : requestOf(source);
      assertSameRequest(
        key!,
        task,
        first,
        typeof source === "number" ? "an earlier item" : `task #${source.id}`,
      );
      created.push(false);
    }
    if (scope !== undefined) byKey.set(scope, source);
    sources.push(source);
  }
  const inserted = await insertTasks(tx, fresh, now);
  return {
    rows: sources.map((source) => (typeof source === "number" ? inserted[source]! : source)),
    created,
    inserted,
  };
}

function requestOf(row: TaskRow): Request {
  return {
    name: row.name,
    payload: row.payload,
    reservedAt: row.reserved_at === null ? null : Number(row.reserved_at),
  };
}

/** The same key must mean the same request: task name, payload (its stored JSON text), kind and run time. */
function assertSameRequest(key: string, task: Request, first: Request, firstName: string): void {
  const difference = differenceOf(task, first);
  if (difference === undefined) return;
  throw new TaskledgerError(
    "conflict",
    `idempotencyKey: "${key}" already names ${firstName}, which ${difference}; a new task needs a new key`,
    { field: "idempotencyKey" },
  );
}

function differenceOf(task: Request, first: Request): string | undefined {
  if (task.name !== first.name) return `runs "${first.name}", not "${task.name}"`;
  if (task.payload !== first.payload) return "has a different payload";
  if (first.reservedAt === null && task.reservedAt !== null) return "is an enqueue, not a reservation";
  if (first.reservedAt !== null && task.reservedAt === null) return "is a reservation, not an enqueue";
  if (task.reservedAt !== first.reservedAt)
    return `is reserved for ${new Date(first.reservedAt!).toISOString()}`;
  return undefined;
}
