import { describe } from "../core/backoff.js";
import { invalid } from "../core/errors.js";
import type { Db } from "../ledger/ledger.js";
import * as store from "../ledger/prune.js";
import type { Runtime, Settings } from "../runtime.js";
import type { WorkerExtension } from "../worker/worker.js";

/**
 * Retention: the ledger forgets what is old, so it stops growing. Ended tasks (finished or
 * canceled) whose end is older than the age limit go, with their notifications; notifications
 * older than it go whatever their task; of each schedule's runs only the newest `scheduleRuns`
 * are kept once ended. Tasks that wait or run are never removed, however old.
 *
 * Rows go in batches, each its own short write transaction, with a pause between them: a
 * worker's claim, in this process or another one on the file, waits for one batch at most.
 */

export interface RetentionOptions {
  /** Ended tasks and notifications older than this go, ms. Default 30 days. */
  readonly maxAgeMs?: number;
  /** Ended runs kept per schedule, newest first. Default 100. */
  readonly scheduleRuns?: number;
  /** How often each worker prunes, ms. Default 1 hour. */
  readonly intervalMs?: number;
}

export type Retention = Exclude<Settings["retention"], false>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const RETENTION_DEFAULTS: Retention = Object.freeze({
  maxAgeMs: 30 * DAY,
  scheduleRuns: 100,
  intervalMs: HOUR,
});

/** The limits in force: the configured ones, or the defaults when workers don't prune (`prune()` called by hand). */
export function limitsOf(settings: Settings): Retention {
  return settings.retention || RETENTION_DEFAULTS;
}

/** `retention` as given to `createTaskledger`: defaults filled in, or `false` (no pruning by workers). */
export function compileRetention(value: RetentionOptions | false | undefined): Retention | false {
  if (value === false) return false;
  if (value === undefined) return RETENTION_DEFAULTS;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("retention", `must be an object { maxAgeMs?, scheduleRuns?, intervalMs? } or false`);
  }
  const known = Object.keys(RETENTION_DEFAULTS);
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw invalid(`retention.${key}`, `unknown option (one of ${known.join(", ")})`);
  }
  const maxAgeMs = value.maxAgeMs ?? RETENTION_DEFAULTS.maxAgeMs;
  const scheduleRuns = value.scheduleRuns ?? RETENTION_DEFAULTS.scheduleRuns;
  const intervalMs = value.intervalMs ?? RETENTION_DEFAULTS.intervalMs;
  assertInteger(maxAgeMs, "retention.maxAgeMs", 1);
  assertInteger(scheduleRuns, "retention.scheduleRuns", 0);
  assertInteger(intervalMs, "retention.intervalMs", 1);
  return Object.freeze({ maxAgeMs, scheduleRuns, intervalMs });
}

export function assertInteger(value: unknown, field: string, min: 0 | 1): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    const kind = min === 0 ? "a non-negative" : "a positive";
    throw invalid(field, `must be ${kind} integer (got ${describe(value)})`);
  }
}

export interface PruneOptions {
  /** Ended tasks and notifications older than this go, ms. */
  readonly olderThanMs: number;
  /** Count what would go; remove nothing. */
  readonly dryRun?: boolean;
  /** Checked between batches: once aborted, the pass ends early and reports what it did. */
  readonly signal?: AbortSignal;
  /** Rows looked at per transaction. Default `PRUNE_BATCH`. */
  readonly batchSize?: number;
}

export interface PruneReport {
  /** Ended tasks removed for their age (schedule runs among them). */
  readonly tasks: number;
  /** Notifications removed: for their age, and those of the schedule runs removed. */
  readonly notifications: number;
  /** Ended schedule runs removed beyond each schedule's newest `scheduleRuns` (younger than the age limit). */
  readonly scheduleRuns: number;
}

/**
 * Rows looked at per transaction. Measured on 200,000 old tasks and their 600,000 notifications
 * (bench/prune.js, 2 cores): a batch of 1,000 holds the write lock 1.2 ms at the median and 8 ms
 * at the 99th percentile on a quiet machine (11–32 ms with other work on it), well under the
 * 100 ms a claim may wait; 5,000 took 4–13 ms and 19–115 ms. Smaller batches only lengthen the
 * pass, which is mostly pauses (below).
 */
export const PRUNE_BATCH = 1_000;

/** A schedule run costs about as much as this many rows: two searches of the notifications' primary key. */
const ROWS_PER_RUN = 50;

/**
 * A writer in another process that finds the write lock taken tries again after pauses that
 * double up to 25 ms (sqlite-dialect.ts). Back-to-back batches would leave it no opening: after
 * each batch the pass pauses as long as the batch held the lock, and never less than that longest
 * pause, so a waiting claim's next try falls in the gap.
 */
const MIN_PAUSE_MS = 25;

/**
 * One pass: old ended tasks, then old notifications, then schedule runs beyond the limit, oldest
 * first. Safe to run from several workers at once: every batch is its own transaction, and
 * every removal names what it removes by id range and state.
 *
 * ```ts
 * const report = await prune(rt, { olderThanMs: 30 * 86_400_000, dryRun: true });
 * ```
 */
export async function prune(rt: Runtime, options: PruneOptions): Promise<PruneReport> {
  const { olderThanMs, dryRun = false, signal, batchSize = PRUNE_BATCH } = options;
  assertInteger(olderThanMs, "olderThanMs", 0);
  assertInteger(batchSize, "batchSize", 1);
  const cutoff = rt.clock.now() - olderThanMs;
  const keep = limitsOf(rt.settings).scheduleRuns;

  /** One batch: in its own write transaction (reads only in a dry run), then a pause. */
  const batch = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    let held = 0;
    const timed = async (db: Db) => {
      const started = performance.now();
      try {
        return await fn(db);
      } finally {
        held = performance.now() - started;
      }
    };
    const result = dryRun ? await timed(rt.db) : await rt.transaction(timed);
    await new Promise((resolve) => setTimeout(resolve, Math.max(MIN_PAUSE_MS, held)));
    return result;
  };
  const stopped = () => signal?.aborted === true;

  /** Walk a table by id from its oldest row until a window reaches rows written after the cutoff. */
  const byAge = async (
    table: "tasks" | "notifications",
    remove: (db: Db, range: store.IdRange) => Promise<number>,
  ): Promise<number> => {
    let removed = 0;
    let after = 0;
    while (!stopped()) {
      const { count, end } = await batch(async (db) => {
        const end = await store.windowEnd(db, table, after, batchSize);
        return { count: await remove(db, { after, through: end?.id ?? null }), end };
      });
      removed += count;
      if (!end || end.createdAt >= cutoff) break;
      after = end.id;
    }
    return removed;
  };

  const tasks = await byAge("tasks", (db, range) => store.removeEndedTasks(db, range, cutoff, dryRun));
  // A task's notifications were written before it ended: the old tasks' go with the old notifications.
  const notifications = await byAge("notifications", (db, range) =>
    store.removeNotifications(db, range, cutoff, dryRun),
  );

  let scheduleRuns = 0;
  let runNotifications = 0;
  const runBatch = Math.max(1, Math.floor(batchSize / ROWS_PER_RUN));
  for (const scheduleId of await store.scheduleIds(rt.db)) {
    const through = stopped() ? null : await store.lastSlotPastKeep(rt.db, scheduleId, keep);
    let after: number | null = null;
    while (through !== null && !stopped()) {
      const { runs, removed, notes } = await batch(async (db) => {
        const runs = await store.endedRuns(db, scheduleId, { after, through }, cutoff, runBatch);
        const notes = await store.removeRunNotifications(db, runs, cutoff, dryRun);
        const ids = runs.map((run) => run.id);
        return { runs, removed: await store.removeEndedTasksById(db, ids, dryRun), notes };
      });
      scheduleRuns += removed;
      runNotifications += notes;
      if (runs.length < runBatch) break;
      after = runs.at(-1)!.slotAt;
    }
  }
  return { tasks, notifications: notifications + runNotifications, scheduleRuns };
}

/** A pass shortly after a worker starts; then every `intervalMs`. */
const FIRST_PASS_MS = 10_000;

/**
 * Pruning beside a worker loop: a pass shortly after start, then every `retention.intervalMs`.
 * A failed pass is logged (once per distinct message while it keeps failing) and tried again at
 * the next interval. `stop()` ends a running pass after its current batch and waits for it.
 */
export function createPruner(rt: Runtime): WorkerExtension {
  if (!rt.settings.retention) throw new Error("createPruner: retention is off in these settings");
  const { maxAgeMs, intervalMs } = rt.settings.retention;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let lastError: string | undefined;
  const stopping = new AbortController();

  const arm = (delay: number) => {
    // Timers above ~24.8 days overflow.
    timer = setTimeout(pass, Math.min(delay, 2 ** 31 - 1));
    timer.unref();
  };

  function pass(): void {
    running = prune(rt, { olderThanMs: maxAgeMs, signal: stopping.signal })
      .then(
        () => {
          lastError = undefined;
        },
        (error) => {
          const message = (error as Error)?.message ?? String(error);
          if (message !== lastError) console.error(`taskledger pruner: ${message}`);
          lastError = message;
        },
      )
      .finally(() => {
        running = undefined;
        if (!stopping.signal.aborted) arm(intervalMs);
      });
  }

  return {
    async start() {
      arm(Math.min(FIRST_PASS_MS, intervalMs));
    },
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
