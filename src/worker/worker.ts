import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { DEFAULT_RETRY, decodeRetry, type RetryTiming } from "../core/backoff.js";
import { invalid, isTaskledgerError } from "../core/errors.js";
import type { Task } from "../core/types.js";
import * as ledger from "../ledger/ledger.js";
import { toTask } from "../ledger/rows.js";
import { createRelay } from "../maintenance/relay.js";
import { sweep } from "../maintenance/sweeper.js";
import type { Runtime } from "../runtime.js";
import { progressValue } from "../tasks/context.js";
import { assertKnownQueue, knownQueues } from "../tasks/registry.js";
import { coalescedProgress } from "./progress.js";
import { type RunningAttempt, startAttempt } from "./runner.js";
import { settle, toOutcome } from "./settle.js";

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
  readonly retry: RetryTiming;
}

/** Hooks for parts that live beside the worker loop (the scheduler, retention). */
export interface WorkerExtension {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Consecutive failed rounds after which the worker stops claiming (it keeps retrying its outcomes). */
export const FAILED_ROUNDS_BEFORE_PAUSE = 5;
/** Back-off after a failed round: doubles from the first to the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
/** How often a round moves due reservations to `queued` when the engine is not the ledger's rows, ms. */
const PROMOTE_EVERY_MS = 1_000;
/** After the grace period, how long `stop()` keeps trying to record what it requeues. */
const STOP_WRITE_MS = 1_500;

export function createWorker(
  rt: Runtime,
  options: WorkerOptions = {},
  extensions: readonly WorkerExtension[] = [],
): Worker {
  const concurrency = options.concurrency ?? 10;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw invalid("concurrency", "must be a positive integer");
  const queues = options.queues ?? knownQueues(rt.settings, rt.registry);
  if (queues.length === 0) throw invalid("queues", "must name at least one queue");
  for (const queue of queues) assertKnownQueue(queue, rt.settings, rt.registry, "queues");
  const id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const graceDefault = options.shutdownGraceMs ?? rt.settings.shutdownGraceMs;
  const log = (message: string) => console.error(`taskledger worker ${id}: ${message}`);
  const relay = createRelay(rt, id);
  /** The relay's pass under way: one at a time (the first, a deep pass, runs while the worker claims). */
  let relaying: Promise<unknown> | undefined;
  const relayPass = (): Promise<unknown> =>
    (relaying ??= relay.pass().finally(() => {
      relaying = undefined;
    }));

  const held = new Map<number, Held>();
  /** Outcomes not yet written. Taken out only by the round that writes them, put back if it fails. */
  const settled: ledger.Outcome[] = [];
  let state: "new" | "running" | "stopping" | "stopped" = "new";
  let pumping = false;
  let wanted = false;
  /** The last claim found fewer tasks than it had room for: what waits is due later (or nothing waits). */
  let caughtUp = true;
  /** When this worker's rounds last moved due reservations to `queued` (engines outside the ledger). */
  let promotedAt = Number.NEGATIVE_INFINITY;
  let scheduled = false;
  let dueTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let timers: NodeJS.Timeout[] = [];
  let unsubscribe: (() => void) | undefined;
  /** Rounds failed in a row, and the last failure's message. */
  let failures = 0;
  let lastFailure = "";
  /** While giving up on writes at shutdown: stop retrying. */
  let abandoning = false;
  let drained: (() => void) | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });

  const claiming = () => state === "running" && failures < FAILED_ROUNDS_BEFORE_PAUSE;

  function schedulePump(): void {
    wanted = true;
    // After a failed round the next one waits for its back-off, whatever wakes the worker.
    if (scheduled || pumping || retryTimer) return;
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
        const free = claiming() ? concurrency - held.size : 0;
        // A worker that stopped claiming still tries a write now and then, to learn when to resume.
        const probe = failures >= FAILED_ROUNDS_BEFORE_PAUSE;
        if (outcomes.length === 0 && free <= 0 && !probe) break;
        let round: Awaited<ReturnType<typeof writeRound>>;
        try {
          round = await writeRound(outcomes, free, probe);
        } catch (error) {
          // Be careful here: these outcomes exist nowhere else. Keep them for the next round.
          settled.unshift(...outcomes);
          roundFailed(error, outcomes.length);
          return;
        }
        if (failures > 0) roundsRecovered(outcomes.length);
        for (const { task, retry } of round.started) launch(task, retry);
        if (free > 0 && round.started.length === free) wanted = true; // there may be more waiting
        if (settled.length > 0) wanted = true;
      }
    } finally {
      pumping = false;
      if (!retryTimer) {
        if (wanted) schedulePump();
        // A full worker claims again as soon as a slot frees; one that caught up waits for the next due time.
        else if (state === "running" && caughtUp) void armDueTimer().catch(() => {});
      }
      if (state === "stopping" && held.size === 0 && (settled.length === 0 || abandoning)) drained?.();
    }
  }

  async function writeRound(outcomes: readonly ledger.Outcome[], free: number, probe: boolean) {
    return rt.write(async (tx, commit) => {
      // Read the time once the write lock is held: waiting for it must not shorten the new leases.
      const now = rt.clock.now();
      const request = { worker: id, queues, limit: free, now, ahead: held.size === 0 };
      // An engine outside the ledger hands over its deliveries while the outcomes are written.
      const early = free > 0 && rt.engine.delivery === "after-commit" ? commit.take(request) : undefined;
      early?.catch(() => {}); // awaited below, unless the round fails first (the commit hands them back)
      // The round's notifications are written by one statement, at its end.
      const notes: ledger.NewNotification[] = [];
      if (probe) await ledger.touchWorker(tx, id, now);
      await settle(commit, outcomes, now, notes);
      let started: { task: Task; retry: RetryTiming }[] = [];
      if (free > 0) {
        // Reservations whose time has come are `queued` from now on: the embedded engine takes
        // only those; other engines' deliveries carry their time, so for them it is what people
        // see, kept current once a second (and by the sweeper).
        if (rt.engine.delivery === "ledger" || now - promotedAt >= PROMOTE_EVERY_MS) {
          promotedAt = now;
          await ledger.promoteDueReservations(tx, now);
        }
        const deliveries = await (early ?? commit.take(request));
        caughtUp = deliveries.length < free;
        if (deliveries.length > 0) {
          // The fenced start: a delivery that is stale or a duplicate starts nothing, and is dropped.
          const begun = await ledger.startAttempts(
            tx,
            deliveries,
            now,
            { worker: id, leaseUntil: now + rt.settings.leaseMs },
            notes,
          );
          started = begun.value.map((row) => ({ task: toTask(row), retry: parseRetry(row.retry) }));
        }
      }
      commit.publish(await ledger.insertNotifications(tx, notes, now));
      return { started };
    });
  }

  /** A round's transaction failed (lock held past the busy timeout, disk full, …): back off, say so once. */
  function roundFailed(error: unknown, kept: number): void {
    failures++;
    const message = isTaskledgerError(error) ? error.message : String((error as Error)?.message ?? error);
    if (failures === 1 || message !== lastFailure) {
      log(
        `could not write to the ledger: ${message}${kept > 0 ? ` (${kept} outcome(s) kept, retrying)` : ""}`,
      );
    }
    lastFailure = message;
    if (failures === FAILED_ROUNDS_BEFORE_PAUSE) {
      log(
        `stopped claiming: ${failures} rounds in a row could not write to the ledger (last: ${message}). ` +
          `Outcomes of finished attempts are kept and retried every ${RETRY_MAX_MS / 1000} s; claiming resumes once a write succeeds.`,
      );
    }
    if (state === "stopped" || abandoning) return;
    const delay = Math.min(RETRY_FIRST_MS * 2 ** (failures - 1), RETRY_MAX_MS);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      schedulePump();
    }, delay);
    // While outcomes wait to be written the timer keeps the process alive; otherwise it need not.
    if (settled.length === 0) retryTimer.unref();
  }

  function roundsRecovered(written: number): void {
    if (failures >= FAILED_ROUNDS_BEFORE_PAUSE) {
      log(
        `the ledger is writable again after ${failures} failed rounds; ${written} kept outcome(s) written; claiming resumed`,
      );
    }
    failures = 0;
    lastFailure = "";
  }

  function launch(task: Task, retry: RetryTiming): void {
    const definition = rt.registry.get(task.name);
    if (!definition) {
      settled.push({
        kind: "failure",
        id: task.id,
        attempts: task.attempts,
        log: `Failed for: no task named "${task.name}" is registered in this worker`,
        retryAt: null,
      });
      schedulePump();
      return;
    }
    // Held again after its lease expired and the sweeper requeued it: the old attempt's outcome no longer counts.
    held.get(task.id)?.attempt.lose("lease expired; the task was claimed again");
    const report = coalescedProgress((progress, data) => writeProgress(task, progress, data));
    const attempt = startAttempt(definition, task, {
      setProgress: async (progress, data) => report(progressValue(progress), data),
      pointOfNoReturn: (reason) => passPointOfNoReturn(task, reason),
    });
    held.set(task.id, { attempt, retry });
    void attempt.result.then((result) => {
      if (held.get(task.id)?.attempt === attempt) held.delete(task.id);
      if (result.kind === "lost") {
        log(
          `task ${task.id} attempt ${task.attempts}: ${result.reason}; its handler was aborted and its result will not be recorded`,
        );
      } else {
        const outcome = toOutcome(task, retry, result, rt.clock.now(), rt.settings.maxJsonBytes);
        if (outcome) settled.push(outcome);
      }
      schedulePump();
    });
  }

  async function writeProgress(task: Task, reported: number, data?: Record<string, unknown>): Promise<void> {
    const progress = progressValue(reported);
    let written: Awaited<ReturnType<typeof ledger.recordProgress>>;
    try {
      written = await rt.transaction((tx) =>
        ledger.recordProgress(tx, task.id, task.attempts, progress, data, rt.clock.now()),
      );
    } catch (error) {
      // Progress is a report, not an outcome: a ledger that cannot take it now does not fail the task.
      if (!isTaskledgerError(error) || error.code !== "unavailable") throw error;
      log(`task ${task.id}: progress ${progress} not recorded: ${error.message}`);
      return;
    }
    rt.bus.publish(written.notifications);
  }

  async function passPointOfNoReturn(task: Task, reason: string): Promise<boolean> {
    const row = await rt.transaction((tx) =>
      ledger.passPointOfNoReturn(tx, task.id, task.attempts, reason, rt.clock.now()),
    );
    return row !== null;
  }

  async function checkCancels(): Promise<void> {
    if (held.size === 0) return;
    const ids = await ledger.cancelRequested(rt.db, id);
    for (const taskId of ids) held.get(taskId)?.attempt.cancel();
  }

  async function armDueTimer(): Promise<void> {
    const next = await rt.engine.nextDue(queues, rt.clock.now());
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
    if (claiming() && held.size < concurrency) schedulePump();
  }

  let lastBeat = 0;
  /**
   * Renew the leases of the attempts this worker holds — running, or finished with the outcome
   * not yet written — and abort any whose lease was taken meanwhile (the worker was paused or
   * blocked past its lease, and the task was requeued: it may already run elsewhere).
   */
  async function heartbeat(): Promise<void> {
    const now = rt.clock.now();
    const late = lastBeat > 0 ? now - lastBeat - rt.settings.heartbeatMs : 0;
    lastBeat = now;
    if (late > rt.settings.leaseMs / 2) {
      log(
        `heartbeat ran ${late} ms late (the lease is ${rt.settings.leaseMs} ms): the process was paused or its event loop blocked. ` +
          `Run CPU-bound handlers with isolation: "thread".`,
      );
    }
    const running = [...held.values()];
    const holding = [
      ...running.map((h) => ({ id: h.attempt.task.id, attempts: h.attempt.task.attempts })),
      ...settled.map((o) => ({ id: o.id, attempts: o.attempts })),
    ];
    const kept = await ledger.extendLeases(rt.db, id, holding, now + rt.settings.leaseMs);
    const keys = new Set(kept.map((k) => `${k.id}:${k.attempts}`));
    for (const h of running) {
      if (keys.has(`${h.attempt.task.id}:${h.attempt.task.attempts}`) || held.get(h.attempt.task.id) !== h)
        continue;
      h.attempt.lose(
        `lease lost: this worker did not renew it in time (paused or blocked for ${Math.max(late, 0)} ms) and the task was taken back`,
      );
    }
    await ledger.touchWorker(rt.db, id, now);
    await checkCancels();
  }

  const every = (ms: number, fn: () => Promise<unknown>) => {
    // A periodic step that keeps failing the same way (a full disk) says so once a minute, not every time.
    let said = "";
    let saidAt = 0;
    const timer = setInterval(() => {
      fn().then(
        () => {
          said = "";
        },
        (error) => {
          const message = (error as Error).message;
          if (message === said && Date.now() - saidAt < 60_000) return;
          said = message;
          saidAt = Date.now();
          log(message);
        },
      );
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
      const unwake = rt.notifier.subscribe(onWake);
      // A cancel signal names its tasks: the held ones stop at once (the ledger's flag is the safety net).
      const uncancel = rt.engine.onCancel((ids) => {
        for (const taskId of ids) held.get(taskId)?.attempt.cancel();
      });
      // An engine outside the ledger says when deliveries arrive (after the commit the notifier reports).
      const undelivered = rt.engine.onDelivered?.(onWake);
      unsubscribe = () => {
        unwake();
        uncancel();
        undelivered?.();
      };
      lastBeat = rt.clock.now();
      every(rt.settings.heartbeatMs, heartbeat);
      // What an engine outside the ledger lost (a crash between commit and delivery, a restart) is
      // delivered again, by whichever worker leads the relay.
      every(rt.settings.sweepIntervalMs, async () => {
        await sweep(rt);
        await relayPass();
      });
      // A started worker keeps its process alive until stop(), as a listening server does.
      every(rt.settings.pollIntervalMs, async () => onWake()).ref();
      for (const extension of extensions) await extension.start();
      await sweep(rt);
      // The first pass hands every waiting task to the engine again (what a crash or a lost Redis
      // left undelivered); the worker takes what the engine holds meanwhile. An engine that cannot
      // be reached now is relayed to by the next pass.
      void relayPass().catch((error) => log(`relay: ${(error as Error).message}`));
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
      let giveUp: NodeJS.Timeout | undefined;
      const grace = setTimeout(() => {
        for (const h of held.values()) h.attempt.interrupt();
        // What cannot be recorded soon after is left to the leases: another worker's sweeper takes it back.
        giveUp = setTimeout(() => {
          if (settled.length === 0) return;
          abandoning = true;
          log(
            `stopping without recording ${settled.length} outcome(s) (tasks ${settled.map((o) => o.id).join(", ")}): ` +
              `the ledger is not writable (${lastFailure || "timed out"}); their leases lapse and another worker takes them back`,
          );
          drained?.();
        }, STOP_WRITE_MS);
      }, graceMs);
      if (held.size === 0 && settled.length === 0) drained?.();
      schedulePump();
      await idle;
      clearTimeout(grace);
      clearTimeout(giveUp);
      clearTimeout(retryTimer);
      retryTimer = undefined;
      for (const timer of timers) clearInterval(timer);
      timers = [];
      unsubscribe?.();
      await relaying?.catch(() => {});
      await relay.stop();
      await ledger.removeWorkers(rt.db, [id]).catch(() => {});
      state = "stopped";
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
