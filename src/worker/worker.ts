import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { DEFAULT_RETRY, decodeRetry, type RetryTiming } from "../core/backoff.js";
import { invalid } from "../core/errors.js";
import type { Task } from "../core/types.js";
import type { Claim } from "../engine/contract.js";
import * as ledger from "../ledger/ledger.js";
import { toTask } from "../ledger/rows.js";
import type { NotificationRow } from "../ledger/schema.js";
import { sweep } from "../maintenance/sweeper.js";
import type { Runtime } from "../runtime.js";
import { recordRunOutcomes } from "../scheduler/store.js";
import { type RunningAttempt, startAttempt } from "./runner.js";
import { toOutcome } from "./settle.js";

export interface WorkerOptions {
  /** Queues to take from, in priority order. Default: the declared queues, else `high`, `default` and every task's queue. */
  readonly queues?: readonly string[];
  /** Tasks run at once. Default 10. */
  readonly concurrency?: number;
  /** Also run the recurring-schedule loop in this worker. */
  readonly withScheduler?: boolean;
  /** How long `stop()` lets running tasks finish before aborting and requeueing them, ms. */
  readonly shutdownGraceMs?: number;
}

export interface Worker {
  readonly id: string;
  readonly queues: readonly string[];
  readonly concurrency: number;
  start(): Promise<void>;
  /** Stop claiming, let running tasks finish within the grace period, then abort and requeue them. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Resolves when the worker has stopped (after `stop()` or a fatal error). */
  readonly stopped: Promise<void>;
  /** Number of attempts in flight. */
  readonly active: number;
}

interface Held {
  readonly attempt: RunningAttempt;
  readonly claim: Claim;
  readonly retry: RetryTiming;
}

interface Settled {
  readonly outcome: ledger.Outcome;
  readonly claim: Claim;
}

/** Hooks for parts that live beside the worker loop (the scheduler). */
export interface WorkerExtension {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createWorker(
  rt: Runtime,
  options: WorkerOptions = {},
  extensions: readonly WorkerExtension[] = [],
): Worker {
  const concurrency = options.concurrency ?? 10;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw invalid("concurrency", "must be a positive integer");
  const queues = options.queues ?? defaultQueues(rt);
  if (queues.length === 0) throw invalid("queues", "must name at least one queue");
  for (const queue of queues) {
    if (rt.settings.queues && !rt.settings.queues.includes(queue)) {
      throw invalid("queues", `unknown queue "${queue}" (declared: ${rt.settings.queues.join(", ")})`);
    }
  }
  const id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const graceDefault = options.shutdownGraceMs ?? rt.settings.shutdownGraceMs;

  const held = new Map<number, Held>();
  const settled: Settled[] = [];
  let state: "new" | "running" | "stopping" | "stopped" = "new";
  let pumping = false;
  let wanted = false;
  /** The last claim found fewer tasks than it had room for: what waits is due later (or nothing waits). */
  let caughtUp = true;
  let scheduled = false;
  let dueTimer: NodeJS.Timeout | undefined;
  let timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | undefined;
  let pumpError: unknown;
  let drained: (() => void) | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });

  const publish = (rows: readonly NotificationRow[]) => rt.bus.publish(rows);

  function schedulePump(): void {
    wanted = true;
    if (scheduled || pumping) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void pump();
    });
  }

  /** Settle finished attempts and claim new ones — one transaction per round. */
  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (wanted) {
        wanted = false;
        const outcomes = settled.splice(0);
        const free = state === "running" ? concurrency - held.size : 0;
        if (outcomes.length === 0 && free <= 0) break;
        const { started, notifications } = await rt.transaction(async (tx) => {
          // Read the time once the write lock is held: waiting for it must not shorten the new leases.
          const now = rt.clock.now();
          const notes: NotificationRow[] = [];
          if (outcomes.length > 0) {
            const written = await ledger.settleOutcomes(
              tx,
              outcomes.map((s) => s.outcome),
              now,
            );
            notes.push(...written.notifications);
            await recordRunOutcomes(tx, written.value, now);
            const applied = new Map(written.value.map((row) => [`${row.id}:${row.attempts}`, row.status]));
            const done: Claim[] = [];
            for (const { outcome, claim } of outcomes) {
              const status = applied.get(`${outcome.id}:${outcome.attempts}`);
              if (status === undefined) continue; // stale attempt: a newer one owns the task
              if (outcome.kind === "failure" && outcome.retryAt !== null && status === "queued") {
                await rt.engine.retryAt(tx, claim, outcome.retryAt);
              } else {
                done.push(claim);
              }
            }
            await rt.engine.ack(tx, done);
          }
          let started: { task: Task; claim: Claim; retry: RetryTiming }[] = [];
          if (free > 0) {
            // Reservations whose time has come are `queued` from now on (and claimable on the embedded engine).
            await ledger.promoteDueReservations(tx, now);
            const claims = await rt.engine.claim(tx, {
              worker: id,
              queues,
              limit: free,
              leaseMs: rt.settings.leaseMs,
              now,
            });
            caughtUp = claims.length < free;
            if (claims.length > 0) {
              const written = await ledger.startAttempts(
                tx,
                claims.map((c) => c.id),
                now,
                { worker: id, leaseUntil: now + rt.settings.leaseMs },
              );
              notes.push(...written.notifications);
              const byId = new Map(claims.map((c) => [c.id, c]));
              started = written.value.map((row) => ({
                task: toTask(row),
                claim: byId.get(row.id)!,
                retry: parseRetry(row.retry),
              }));
              if (started.length < claims.length) {
                const live = new Set(started.map((s) => s.task.id));
                await rt.engine.discard(
                  tx,
                  claims.filter((c) => !live.has(c.id)).map((c) => c.id),
                );
              }
            }
          }
          return { started, notifications: notes };
        });
        publish(notifications);
        if (outcomes.some((s) => s.outcome.kind === "failure")) rt.engine.notify();
        for (const { task, claim, retry } of started) launch(task, claim, retry);
        if (free > 0 && started.length === free) wanted = true; // there may be more waiting
        if (settled.length > 0) wanted = true;
      }
    } catch (error) {
      pumpError = error;
      console.error(`taskledger worker ${id}: ${(error as Error).message}`);
      // Outcomes not yet written stay queued for the next round; retry after a pause.
      setTimeout(schedulePump, 1_000).unref();
    } finally {
      pumping = false;
    }
    if (wanted) schedulePump();
    // A full worker claims again as soon as a slot frees; one that caught up waits for the next due time.
    else if (state === "running" && caughtUp) void armDueTimer();
    if (state === "stopping" && held.size === 0 && settled.length === 0) drained?.();
  }

  function launch(task: Task, claim: Claim, retry: RetryTiming): void {
    const definition = rt.registry.get(task.name);
    if (!definition) {
      settled.push({
        claim,
        outcome: {
          kind: "failure",
          id: task.id,
          attempts: task.attempts,
          log: `Failed for: no task named "${task.name}" is registered in this worker`,
          retryAt: null,
        },
      });
      schedulePump();
      return;
    }
    // Held again after its lease expired and the sweeper requeued it: the old attempt's outcome no longer counts.
    held.get(task.id)?.attempt.interrupt("lease expired; the task was claimed again");
    const attempt = startAttempt(definition, task, (progress, data) => writeProgress(task, progress, data));
    held.set(task.id, { attempt, claim, retry });
    void attempt.result.then((result) => {
      if (held.get(task.id)?.attempt === attempt) held.delete(task.id);
      settled.push({ claim, outcome: toOutcome(task, retry, result, rt.clock.now()) });
      schedulePump();
    });
  }

  async function writeProgress(task: Task, progress: number, data?: Record<string, unknown>): Promise<void> {
    if (typeof progress !== "number" || !Number.isFinite(progress) || progress < 0 || progress > 100) {
      throw invalid("progress", `must be a number from 0 to 100 (got ${String(progress)})`);
    }
    const written = await rt.transaction((tx) =>
      ledger.recordProgress(tx, task.id, task.attempts, Math.round(progress), data, rt.clock.now()),
    );
    publish(written.notifications);
  }

  async function checkCancels(): Promise<void> {
    if (held.size === 0) return;
    const ids = await rt.engine.cancelRequested(id);
    for (const taskId of ids) held.get(taskId)?.attempt.cancel();
  }

  async function armDueTimer(): Promise<void> {
    const next = await rt.engine.nextRunAt(queues);
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = undefined;
    if (next === null || state !== "running") return;
    const delay = next - rt.clock.now();
    if (delay <= 0) return schedulePump();
    // Timers above ~24.8 days overflow; re-arm on the way.
    dueTimer = setTimeout(schedulePump, Math.min(delay, 2 ** 31 - 1));
    dueTimer.unref();
  }

  function onWake(): void {
    if (state !== "running" && state !== "stopping") return;
    if (held.size > 0) void checkCancels().catch(() => {});
    if (state === "running" && held.size < concurrency) schedulePump();
  }

  async function heartbeat(): Promise<void> {
    const now = rt.clock.now();
    await rt.engine.extendLeases(id, now + rt.settings.leaseMs);
    await ledger.touchWorker(rt.db, id, now);
    await checkCancels();
  }

  const every = (ms: number, fn: () => Promise<unknown>) => {
    const timer = setInterval(() => {
      fn().catch((error) => console.error(`taskledger worker ${id}: ${(error as Error).message}`));
    }, ms);
    timer.unref();
    timers.push(timer);
    return timer;
  };

  return {
    id,
    queues,
    concurrency,
    stopped,
    get active() {
      return held.size;
    },

    async start() {
      if (state !== "new") throw new Error("a worker can be started once");
      state = "running";
      await ledger.upsertWorker(
        rt.db,
        { id, host: hostname(), pid: process.pid, queues, concurrency },
        rt.clock.now(),
      );
      unsubscribe = rt.engine.onWake(onWake);
      every(rt.settings.heartbeatMs, heartbeat);
      every(rt.settings.sweepIntervalMs, () => sweep(rt, publish));
      // A started worker keeps its process alive until stop(), as a listening server does.
      every(rt.settings.pollIntervalMs, async () => onWake()).ref();
      for (const extension of extensions) await extension.start();
      await sweep(rt, publish);
      schedulePump();
    },

    async stop(stopOptions = {}) {
      if (state === "stopped" || state === "stopping") return stopped;
      if (state === "new") {
        state = "stopped";
        resolveStopped();
        return;
      }
      state = "stopping";
      if (dueTimer) clearTimeout(dueTimer);
      for (const extension of extensions) await extension.stop().catch(() => {});
      const graceMs = stopOptions.graceMs ?? graceDefault;
      const idle = new Promise<void>((resolve) => {
        drained = resolve;
      });
      if (held.size === 0 && settled.length === 0) drained?.();
      const grace = setTimeout(() => {
        for (const h of held.values()) h.attempt.interrupt();
      }, graceMs);
      schedulePump();
      await idle;
      clearTimeout(grace);
      for (const timer of timers) clearInterval(timer);
      timers = [];
      unsubscribe?.();
      await ledger.removeWorkers(rt.db, [id]).catch(() => {});
      state = "stopped";
      if (pumpError) pumpError = undefined;
      resolveStopped();
    },
  };
}

// Tasks of one definition share their retry text: parse each text once.
const retryPolicies = new Map<string, RetryTiming>();

function parseRetry(text: string): RetryTiming {
  let policy = retryPolicies.get(text);
  if (!policy) {
    try {
      policy = decodeRetry(text);
    } catch {
      policy = DEFAULT_RETRY;
    }
    if (retryPolicies.size >= 1_000) retryPolicies.clear();
    retryPolicies.set(text, policy);
  }
  return policy;
}

function defaultQueues(rt: Runtime): string[] {
  if (rt.settings.queues) return [...rt.settings.queues];
  const names = ["high", "default"];
  for (const name of rt.registry.names()) {
    const queue = rt.registry.get(name)?.queue;
    if (queue && !names.includes(queue)) names.push(queue);
  }
  return names;
}
