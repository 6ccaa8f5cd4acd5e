/**
 * `taskledger/testing` — what a test of an app that uses taskledger needs, without files,
 * processes or timers of its own:
 *
 * - `runTask(definition, payload)` runs one handler as a worker would (context, progress,
 *   timeout, cancel) and gives back its result or error and the progress it reported;
 * - `createTestLedger({ tasks })` is a real taskledger instance on an in-memory SQLite ledger and
 *   the in-memory engine: the app enqueues into it as usual, and the test asserts what was
 *   enqueued (`enqueued`), then runs it (`drain`).
 *
 * ```ts
 * import { createTestLedger, runTask } from "taskledger/testing";
 *
 * const run = await runTask(countWords, "to be or not to be");
 * assert.deepEqual(run.result, { words: 6 });
 *
 * const t = createTestLedger({ tasks: [countWords] });
 * await signUp(t.tl, "alice");                       // the app's code, given t.tl
 * assert.equal(t.enqueued({ task: countWords }).length, 1);
 * const done = await t.drain();                      // runs it, and what it enqueued in turn
 * assert.equal(done[0].status, "finished");
 * await t.close();
 * ```
 */
import type { Task } from "../core/types.js";
import { runtimeOf } from "../internals.js";
import { pendingWork } from "../ledger/queries.js";
import { createTaskledger, type Taskledger, type TaskledgerOptions } from "../taskledger.js";
import { progressValue } from "../tasks/context.js";
import type { PayloadOf, ResultOf, TaskDefinition } from "../tasks/define.js";
import { type AttemptResult, startAttempt } from "../worker/runner.js";

export interface RunTaskOptions {
  /** The attempt's timeout, ms. Default: the definition's. */
  readonly timeout?: number;
  /** Which attempt this is (`ctx.attempt`). Default 1. */
  readonly attempt?: number;
  /** The task's owner, as `ctx.task.owner` shows it. */
  readonly owner?: string | null;
  /** Cancel the run once it has started (after this many ms): the handler's signal fires. */
  readonly cancelAfterMs?: number;
}

export interface TaskRun<R = unknown> {
  /** `finished` (returned), `failed` (threw or timed out) or `canceled`. */
  readonly status: "finished" | "failed" | "canceled";
  readonly result: R | undefined;
  readonly error: unknown;
  readonly timedOut: boolean;
  /** Every progress it reported, in order (with the data it gave). */
  readonly progress: readonly { readonly progress: number; readonly data?: Record<string, unknown> }[];
  /** The reasons it gave at `ctx.pointOfNoReturn`, in order. */
  readonly pointsOfNoReturn: readonly string[];
}

/**
 * Run one task definition with a payload, as a worker runs an attempt — in this process, with no
 * ledger: the handler gets its context (`ctx.signal`, `ctx.setProgress`, `setTaskProgress`
 * from any depth), its timeout and, if asked, a cancel.
 */
export async function runTask<T extends TaskDefinition>(
  definition: T,
  payload: PayloadOf<T>,
  options: RunTaskOptions = {},
): Promise<TaskRun<ResultOf<T>>> {
  const progress: { progress: number; data?: Record<string, unknown> }[] = [];
  const pointsOfNoReturn: string[] = [];
  const now = new Date();
  const task: Task = {
    id: 1,
    name: definition.name,
    description: `test run of ${definition.name}`,
    owner: options.owner ?? null,
    queue: definition.queue ?? "default",
    status: "running",
    failed: false,
    progress: 0,
    payload,
    result: null,
    log: null,
    attempts: options.attempt ?? 1,
    maxAttempts: definition.retry.max + 1,
    timeoutMs: options.timeout ?? definition.timeout,
    reservedAt: null,
    scheduleId: null,
    slotAt: null,
    cancelRequestedAt: null,
    idempotencyKey: null,
    noReturnAt: null,
    noReturnReason: null,
    createdAt: now,
    updatedAt: now,
    startedAt: now,
    finishedAt: null,
  } as Task;
  const attempt = startAttempt({ ...definition, isolation: "none" }, task, {
    async setProgress(value, data) {
      const recorded = progressValue(value);
      progress.push(data === undefined ? { progress: recorded } : { progress: recorded, data });
    },
    async pointOfNoReturn(reason) {
      pointsOfNoReturn.push(reason);
      return true;
    },
  });
  let timer: NodeJS.Timeout | undefined;
  if (options.cancelAfterMs !== undefined) timer = setTimeout(() => attempt.cancel(), options.cancelAfterMs);
  const outcome: AttemptResult = await attempt.result;
  clearTimeout(timer);
  const base = { progress, pointsOfNoReturn };
  switch (outcome.kind) {
    case "success":
      return {
        ...base,
        status: "finished",
        result: outcome.value as ResultOf<T>,
        error: undefined,
        timedOut: false,
      };
    case "error":
      return { ...base, status: "failed", result: undefined, error: outcome.error, timedOut: false };
    case "timeout":
      return {
        ...base,
        status: "failed",
        result: undefined,
        error: new Error(`timed out after ${outcome.timeoutMs} ms`),
        timedOut: true,
      };
    default:
      return { ...base, status: "canceled", result: undefined, error: undefined, timedOut: false };
  }
}

export interface TestLedger {
  /** The instance the app under test is given: enqueue, reserve, cancel and read as usual. */
  readonly tl: Taskledger;
  /** Tasks recorded and not yet run (queued or reserved), oldest first; filter by task or owner. */
  enqueued(filter?: { task?: TaskDefinition | string; owner?: string | null }): Promise<Task[]>;
  /**
   * Run everything that is due — and what those tasks enqueue in turn — until nothing due waits.
   * Returns the tasks that ended, in the order they ended. Retries whose delay has not passed and
   * reservations not yet due stay waiting.
   */
  drain(options?: { timeoutMs?: number }): Promise<Task[]>;
  close(): Promise<void>;
}

/** A taskledger instance for tests: an in-memory SQLite ledger and the in-memory engine. */
export function createTestLedger(
  options: Omit<TaskledgerOptions, "database" | "engine"> & { readonly tasks: readonly TaskDefinition[] },
): TestLedger {
  const tl = createTaskledger({
    reservationLeadSeconds: 0,
    retention: false,
    ...options,
    database: "sqlite::memory:",
    engine: "memory",
  });
  const waiting = async () => (await tl.tasks.list({ status: ["queued", "reserved"], limit: 200 })).reverse();
  return {
    tl,
    async enqueued(filter = {}) {
      const name = typeof filter.task === "string" ? filter.task : filter.task?.name;
      return (await waiting()).filter(
        (t) =>
          (name === undefined || t.name === name) && (filter.owner === undefined || t.owner === filter.owner),
      );
    },
    async drain({ timeoutMs = 10_000 } = {}) {
      const ended: number[] = [];
      const unsubscribe = tl.notifications.subscribe((n) => {
        if (n.name === "task_finished" || n.name === "task_failed" || n.name === "task_canceled")
          ended.push(n.taskId!);
      });
      const worker = tl.createWorker({ concurrency: 1 });
      await worker.start();
      const deadline = Date.now() + timeoutMs;
      const db = runtimeOf(tl).db;
      try {
        for (;;) {
          const { due, running } = await pendingWork(db, Date.now());
          if (due === 0 && running === 0 && worker.active === 0) break;
          if (Date.now() > deadline)
            throw new Error(`drain: tasks still running or due after ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      } finally {
        await worker.stop();
        unsubscribe();
      }
      const tasks = await Promise.all(ended.map((id) => tl.tasks.get(id)));
      return tasks.filter((task): task is Task => task !== undefined);
    },
    close: () => tl.close(),
  };
}
