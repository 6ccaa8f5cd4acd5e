import { invalid, TaskledgerError } from "../core/errors.js";
import { type PendingRetry, pendingRetryOf } from "../core/task-log.js";
import type { CancelResult, DisplayStatus, Notification, Task } from "../core/types.js";
import type { NewTask } from "../ledger/ledger.js";
import * as ledger from "../ledger/ledger.js";
import * as queries from "../ledger/queries.js";
import { toNotification, toTask } from "../ledger/rows.js";
import type { TaskRow } from "../ledger/schema.js";
import type { Runtime } from "../runtime.js";
import type { PayloadOf, TaskDefinition } from "../tasks/define.js";
import type { Recorded } from "./idempotency.js";
import { cancelTask, recordTasks } from "./record.js";
import { assertTaskId, type EnqueueOptions, parseReservationTime, prepareTask } from "./validate.js";

export type { EnqueueOptions } from "./validate.js";

export interface ListOptions {
  readonly owner?: string | null;
  /** Stored statuses: `finished` includes the tasks that failed. */
  readonly status?: Task["status"] | readonly Task["status"][];
  /**
   * Statuses as people read them (`displayStatus`): `finished` only the tasks that succeeded,
   * `failed` those that finished and failed, `canceled` the canceled ones.
   */
  readonly displayStatus?: DisplayStatus | readonly DisplayStatus[];
  readonly name?: string;
  readonly queue?: string;
  /** The stored `failed` flag: true for failed and for canceled tasks. */
  readonly failed?: boolean;
  readonly scheduleId?: number;
  /** At most 200; default 50. */
  readonly limit?: number;
  /** The id of the last task of the previous page. */
  readonly cursor?: number;
}

export interface OwnerScope {
  /** When set, the task must belong to this owner; another owner's task is "not found". */
  readonly owner?: string | null;
}

export interface ManyItem<T extends TaskDefinition = TaskDefinition> {
  readonly task: T | string;
  readonly payload: PayloadOf<T>;
  readonly options: EnqueueOptions;
}

type TaskRef<T extends TaskDefinition> = T | string;

/** An enqueue or reservation, and whether it wrote the task. */
export interface EnqueueResult<Payload = unknown> {
  readonly task: Task<Payload>;
  /** False when `idempotencyKey` named a task recorded before: `task` is that one, and nothing was written. */
  readonly created: boolean;
}

const MAX_LIMIT = 200;

/** The seeds' TaskService: enqueue, reserve, cancel, and the lists a user looks at. */
interface PendingEnqueue {
  readonly rows: readonly NewTask[];
  resolve(recorded: Pick<Recorded, "rows" | "created">): void;
  reject(error: unknown): void;
}

export class TaskService {
  readonly #rt: Runtime;
  readonly #pending: PendingEnqueue[] = [];
  #flushing = false;

  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /**
   * Record a task and queue it, in one transaction.
   *
   * ```ts
   * const task = await tl.tasks.enqueue(countWords, "https://example.com", { description: "count words", owner: "alice" });
   * ```
   */
  async enqueue<T extends TaskDefinition>(
    task: TaskRef<T>,
    payload: PayloadOf<T>,
    options: EnqueueOptions,
  ): Promise<Task<PayloadOf<T>>> {
    return (await this.enqueueResult(task, payload, options)).task;
  }

  /**
   * `enqueue`, saying whether the task was written now (`created`) or its `idempotencyKey` named
   * one recorded before — for an API that answers a replay differently.
   */
  async enqueueResult<T extends TaskDefinition>(
    task: TaskRef<T>,
    payload: PayloadOf<T>,
    options: EnqueueOptions,
  ): Promise<EnqueueResult<PayloadOf<T>>> {
    const { rows, created } = await this.#enqueueMany([{ task, payload, options }]);
    return { task: toTask(rows[0]!) as Task<PayloadOf<T>>, created: created[0]! };
  }

  /**
   * Many tasks in one transaction: all are recorded and queued, or none (the first bad item names
   * its index). An item whose `idempotencyKey` names a recorded task (or an earlier item) is that task.
   */
  async enqueueMany(items: readonly ManyItem[]): Promise<Task[]> {
    return (await this.#enqueueMany(items)).rows.map(toTask);
  }

  async #enqueueMany(items: readonly ManyItem[]): Promise<Pick<Recorded, "rows" | "created">> {
    await this.#rt.ready();
    if (!Array.isArray(items)) throw invalid("items", "must be an array");
    const rows = items.map((item, index) => {
      try {
        const definition = this.#rt.registry.resolve(item.task);
        return prepareTask(definition, item.payload, item.options, this.#rt, "queued", null, "default");
      } catch (error) {
        throw items.length === 1 ? error : prefixField(error, `items[${index}].`);
      }
    });
    if (rows.length === 0) return { rows: [], created: [] };
    return new Promise((resolve, reject) => {
      this.#pending.push({ rows, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  /**
   * Group commit: enqueues that arrive while a transaction is writing are written together by
   * the next one, so concurrent callers share commits. Each caller still gets exactly its own
   * tasks, and when a shared transaction fails every enqueue in it is retried alone, so one
   * caller's failure is never another's. Callers in one group with the same idempotency key
   * all get the one task.
   */
  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending.splice(0);
        try {
          const recorded = await this.#insertQueued(group.flatMap((p) => p.rows));
          let offset = 0;
          for (const p of group) {
            const end = offset + p.rows.length;
            p.resolve({
              rows: recorded.rows.slice(offset, end),
              created: recorded.created.slice(offset, end),
            });
            offset = end;
          }
        } catch (error) {
          if (group.length === 1) group[0]!.reject(error);
          else for (const p of group) await this.#insertQueued(p.rows).then(p.resolve, p.reject);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #insertQueued(rows: readonly NewTask[]): Promise<Recorded> {
    const now = this.#rt.clock.now();
    return this.#rt.write((_tx, commit) => recordTasks(commit, rows, now));
  }

  /**
   * Run a task at a given time (the seeds' `reserve_task`): status `reserved`, queue `high` by
   * default, a `task_reserve` notification at once. `at` must be at least
   * `reservationLeadSeconds` ahead.
   */
  async reserve<T extends TaskDefinition>(
    at: Date | string | number,
    task: TaskRef<T>,
    payload: PayloadOf<T>,
    options: EnqueueOptions,
  ): Promise<Task<PayloadOf<T>>> {
    return (await this.reserveResult(at, task, payload, options)).task;
  }

  /** `reserve`, saying whether the task was written now or its `idempotencyKey` named one recorded before. */
  async reserveResult<T extends TaskDefinition>(
    at: Date | string | number,
    task: TaskRef<T>,
    payload: PayloadOf<T>,
    options: EnqueueOptions,
  ): Promise<EnqueueResult<PayloadOf<T>>> {
    const definition = this.#rt.registry.resolve(task);
    await this.#rt.ready();
    const now = this.#rt.clock.now();
    const runAt = parseReservationTime(at, now, this.#rt.settings);
    const declared = this.#rt.settings.queues;
    const defaultQueue = declared && !declared.includes("high") ? "default" : "high";
    const row = prepareTask(definition, payload, options, this.#rt, "reserved", runAt, defaultQueue);
    const recorded = await this.#rt.write(async (tx, commit) => {
      const recorded = await recordTasks(commit, [row], now);
      const [inserted] = recorded.inserted;
      if (!inserted) return recorded;
      const notes = await ledger.insertNotifications(
        tx,
        [
          {
            owner: inserted.owner,
            name: "task_reserve",
            taskId: inserted.id,
            data: { taskId: inserted.id, reservedAt: new Date(runAt).toISOString() },
          },
        ],
        now,
      );
      commit.publish(notes);
      return recorded;
    });
    const created = recorded.created[0]!;
    return { task: toTask(recorded.rows[0]!) as Task<PayloadOf<T>>, created };
  }

  /**
   * Cancel a task (the seeds' `cancel_task`). `reserved` or `queued` → `canceled` at once;
   * `running` → its AbortSignal fires and it ends `canceled`; finished or canceled tasks are
   * refused with the reason. An unknown id (or another owner's) throws `not_found`.
   */
  async cancel(id: number, scope: OwnerScope = {}): Promise<CancelResult> {
    return this.#cancel(id, scope, ["reserved", "queued", "running"]);
  }

  /** Cancel a reservation (the seeds' `cancel_reserve`): only while the task is still `reserved`. */
  async cancelReservation(id: number, scope: OwnerScope = {}): Promise<CancelResult> {
    return this.#cancel(id, scope, ["reserved"]);
  }

  async #cancel(id: number, scope: OwnerScope, allowed: readonly Task["status"][]): Promise<CancelResult> {
    await this.#rt.ready();
    assertTaskId(id);
    const now = this.#rt.clock.now();
    const outcome = await this.#rt.write(async (tx, commit) => {
      const row = await queries.getTask(tx, id);
      if (!row || !ownedBy(row, scope))
        throw new TaskledgerError("not_found", `id: no task ${id}`, { field: "id" });
      const status = row.status as Task["status"];
      if (!allowed.includes(status)) return { ok: false as const, reason: refusal(row, allowed), row };
      if (status === "running" && row.no_return_at !== null) {
        return { ok: false as const, reason: pastNoReturn(row), row };
      }
      const log = status === "reserved" ? "Reservation canceled" : "Canceled before it started";
      return { ok: true as const, row: (await cancelTask(commit, row, log, now)) ?? row };
    });
    if (!outcome.ok) return { ok: false, reason: outcome.reason, task: toTask(outcome.row) };
    return { ok: true, task: toTask(outcome.row) };
  }

  /** One task, or `undefined` (also for another owner's task when `scope.owner` is set). */
  async get(id: number, scope: OwnerScope = {}): Promise<Task | undefined> {
    await this.#rt.ready();
    assertTaskId(id);
    const row = await queries.getTask(this.#rt.db, id);
    return row && ownedBy(row, scope) ? toTask(row) : undefined;
  }

  /** Tasks newest first, filtered; page with `cursor` (the last id seen). */
  async list(options: ListOptions = {}): Promise<Task[]> {
    await this.#rt.ready();
    const rows = await queries.listTasks(this.#rt.db, {
      owner: options.owner,
      status: options.status,
      name: options.name,
      queue: options.queue,
      failed: options.failed,
      displayStatus:
        typeof options.displayStatus === "string" ? [options.displayStatus] : options.displayStatus,
      scheduleId: options.scheduleId,
      cursor: options.cursor,
      limit: clampLimit(options.limit, 50),
    });
    return rows.map(toTask);
  }

  /** Queued or running tasks of an owner (the seeds' in-progress list). `undefined` = every owner. */
  async inProgress(owner?: string | null, limit = 100): Promise<Task[]> {
    await this.#rt.ready();
    return (await queries.inProgressTasks(this.#rt.db, owner, clampLimit(limit, 100))).map(toTask);
  }

  /**
   * The last `n` finished tasks (default 5, as the seeds), the most recently ended first.
   * `{ canceled: true }` lists canceled ones among them (the task center's "Last finished").
   */
  async recent(owner?: string | null, n = 5, options: { canceled?: boolean } = {}): Promise<Task[]> {
    await this.#rt.ready();
    return (await queries.recentFinishedTasks(this.#rt.db, owner, clampLimit(n, 5), options)).map(toTask);
  }

  /**
   * The retry a queued task waits for after a failed attempt — which attempt failed, why (one
   * line, no stack) and when the next one starts — or null when it is not waiting for one.
   */
  async pendingRetry(task: Task): Promise<PendingRetry | null> {
    if (task.status !== "queued" || task.attempts === 0) return null;
    await this.#rt.ready();
    const note = await queries.latestTaskNotification(this.#rt.db, task.owner, task.id, "task_retry");
    return pendingRetryOf(task, note && toNotification(note));
  }

  /** Reserved tasks, soonest first. */
  async reserved(owner?: string | null, limit = 50): Promise<Task[]> {
    await this.#rt.ready();
    return (await queries.reservedTasks(this.#rt.db, owner, clampLimit(limit, 50))).map(toTask);
  }
}

export class NotificationService {
  readonly #rt: Runtime;
  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /** Notifications of an owner after id `after`, oldest first (a client asks for "everything after N"). */
  async after(owner: string | null | undefined, after = 0, limit = 100): Promise<Notification[]> {
    await this.#rt.ready();
    if (!Number.isInteger(after) || after < 0) throw invalid("after", "must be a non-negative integer");
    return (await queries.notificationsAfter(this.#rt.db, owner, after, clampLimit(limit, 100))).map(
      toNotification,
    );
  }

  /** The newest `limit` notifications of an owner, newest first. */
  async latest(owner: string | null | undefined, limit = 20): Promise<Notification[]> {
    await this.#rt.ready();
    return (await queries.latestNotifications(this.#rt.db, owner, clampLimit(limit, 20))).map(toNotification);
  }

  /** The id of the newest notification of any owner (0 when none): where a live feed starts. */
  async lastId(): Promise<number> {
    await this.#rt.ready();
    return queries.lastNotificationId(this.#rt.db);
  }

  /** Live notifications written by this instance. */
  subscribe(listener: (notification: Notification) => void): () => void {
    return this.#rt.bus.subscribe(listener);
  }
}

function ownedBy(row: TaskRow, scope: OwnerScope): boolean {
  return scope.owner === undefined || row.owner === scope.owner;
}

function pastNoReturn(row: TaskRow): string {
  const at = new Date(Number(row.no_return_at)).toISOString();
  return `task ${row.id} passed its point of no return at ${at} (${row.no_return_reason}); it can no longer be canceled`;
}

function refusal(row: TaskRow, allowed: readonly string[]): string {
  if (row.status === "finished")
    return `task ${row.id} has already finished${row.failed ? " (failed)" : ""}; it cannot be canceled`;
  if (row.status === "canceled") return `task ${row.id} is already canceled`;
  return `task ${row.id} is ${row.status}; only ${allowed.join(" or ")} tasks can be canceled this way`;
}

export function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1) throw invalid("limit", "must be a positive integer");
  return Math.min(limit, MAX_LIMIT);
}

function prefixField(error: unknown, prefix: string): unknown {
  if (error instanceof TaskledgerError && error.field) {
    return new TaskledgerError(error.code, `${prefix}${error.message}`, { field: `${prefix}${error.field}` });
  }
  return error;
}
