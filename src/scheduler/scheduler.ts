import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { cancelTask, recordTasks } from "../client/record.js";
import type { Commit } from "../engine/commit.js";
import * as leases from "../ledger/leases.js";
import type * as ledger from "../ledger/ledger.js";
import { readSpec } from "../ledger/rows.js";
import * as store from "../ledger/schedules.js";
import type { Runtime } from "../runtime.js";
import type { WorkerExtension } from "../worker/worker.js";
import { timingOf } from "./entry.js";
import type { ScheduleService } from "./service.js";
import { catchUp } from "./timing.js";
import type { ScheduleEntry } from "./types.js";

export interface SchedulerOptions {
  /** The schedules declared in code, registered when the scheduler starts. */
  readonly declared?: readonly ScheduleEntry[];
}

export interface TickReport {
  /** Whether this scheduler held the lease (only the holder fires). */
  readonly active: boolean;
  /** Runs created, as `{ scheduleId, slotAt, taskId }`. */
  readonly fired: { scheduleId: number; slotAt: number; taskId: number }[];
  /** Slots recorded as skipped because the previous run was still going. */
  readonly skipped: { scheduleId: number; slotAt: number; taskId: number }[];
}

export interface Scheduler extends WorkerExtension {
  readonly id: string;
  /** Take or renew the lease and, if held, fire every due slot now. Ticks never overlap. */
  tick(): Promise<TickReport>;
}

const BATCH = 1_000;

/**
 * The scheduler: fires due slots by *enqueueing* one task per slot; workers run them. Several
 * processes may run one: a lease in SQL (`leases`, renewed every `heartbeatMs`, lasting
 * `leaseMs`) says which one is active, the others stand by and take over once it expires. The
 * lease is checked in the same transaction that writes the runs, and `(schedule_id, slot_at)` is
 * unique, so a slot is never fired twice.
 *
 * Policies (docs/schedules.md):
 * - missed slots (no scheduler was active, or it was late): one run, for the latest missed slot;
 * - overlap: with `overlap: "skip"` (default), a slot whose previous run is still queued or
 *   running is recorded as a run canceled before it started, and fires nothing.
 */
export function createScheduler(
  rt: Runtime,
  service: ScheduleService,
  options: SchedulerOptions = {},
): Scheduler {
  const id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  let queue: Promise<unknown> = Promise.resolve();
  let waiting: Promise<TickReport> | undefined;
  let state: "new" | "running" | "stopped" = "new";
  let active = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let dueTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let arming = false;
  let rearm = false;

  function tick(): Promise<TickReport> {
    waiting ??= queue.then(() => {
      waiting = undefined;
      return fireDue();
    });
    const current = waiting;
    queue = current.catch(() => {});
    return current;
  }

  async function fireDue(): Promise<TickReport> {
    await rt.ready();
    const report: TickReport = { active: false, fired: [], skipped: [] };
    for (;;) {
      const round = await rt.write((tx, commit) => fireRound(tx, commit));
      active = round.active;
      report.fired.push(...round.fired);
      report.skipped.push(...round.skipped);
      if (!round.active || round.due < BATCH) return { ...report, active: round.active };
    }
  }

  /** One transaction: hold the lease, then fire up to BATCH due schedules. */
  async function fireRound(tx: ledger.Db, commit: Commit) {
    // Read the time once the write lock is held, as the worker does.
    const now = rt.clock.now();
    const fired: TickReport["fired"] = [];
    const skipped: TickReport["skipped"] = [];
    if (!(await leases.holdLease(tx, leases.SCHEDULER_LEASE, id, now, rt.settings.leaseMs))) {
      return { active: false, due: 0, fired, skipped };
    }
    const due = await store.dueSchedules(tx, now, BATCH);
    const runs: ledger.NewTask[] = [];
    const skips: ledger.NewTask[] = [];
    const advanced: store.Advance[] = [];
    for (const row of due) {
      const scheduleId = Number(row.id);
      const spec = readSpec(row.spec);
      if (spec === undefined) {
        // A row this version cannot read (written by hand): it stops, and the others still fire.
        advanced.push({
          id: scheduleId,
          nextRunAt: null,
          lastRunAt: row.last_run_at,
          runCount: row.run_count,
        });
        continue;
      }
      const timing = timingOf(row.type, spec);
      const { slot, next: after } = catchUp(timing, Number(row.next_run_at), now);
      const task: ledger.NewTask = {
        name: row.name,
        description: row.description,
        owner: row.owner,
        queue: spec.run.queue,
        priority: spec.run.priority,
        status: "queued",
        payload: row.payload,
        maxAttempts: spec.run.maxAttempts,
        retry: spec.run.retry,
        timeoutMs: spec.run.timeoutMs,
        reservedAt: null,
        scheduleId,
        slotAt: slot,
      };
      if (Number(row.busy) === 1 && spec.overlap === "skip") {
        skips.push(task);
        advanced.push({
          id: scheduleId,
          nextRunAt: after,
          lastRunAt: row.last_run_at,
          runCount: row.run_count,
        });
        continue;
      }
      const count = Number(row.run_count) + 1;
      runs.push(task);
      advanced.push({
        id: scheduleId,
        nextRunAt: spec.repeat !== null && count >= spec.repeat ? null : after,
        lastRunAt: slot,
        runCount: count,
      });
    }
    await store.advanceSchedules(tx, advanced, now);
    // Runs are enqueued, and skipped slots canceled, as the task service does it.
    if (runs.length > 0) {
      for (const row of (await recordTasks(commit, runs, now)).inserted)
        fired.push({ scheduleId: Number(row.schedule_id), slotAt: Number(row.slot_at), taskId: row.id });
    }
    if (skips.length > 0) {
      for (const row of (await recordTasks(commit, skips, now)).inserted) {
        const log = `Skipped: the previous run of this schedule was still going at slot ${new Date(Number(row.slot_at)).toISOString()} (overlap policy "skip")`;
        await cancelTask(commit, row, log, now);
        skipped.push({ scheduleId: Number(row.schedule_id), slotAt: Number(row.slot_at), taskId: row.id });
      }
    }
    return { active: true, due: due.length, fired, skipped };
  }

  /** Wake up at the soonest slot (re-armed after every tick and on every change to the ledger). */
  async function armDueTimer(): Promise<void> {
    if (arming) {
      rearm = true;
      return;
    }
    arming = true;
    try {
      do {
        rearm = false;
        const next = active && state === "running" ? await store.nextDueAt(rt.db) : null;
        if (dueTimer) clearTimeout(dueTimer);
        dueTimer = undefined;
        if (next === null || state !== "running") continue;
        const delay = Math.max(0, next - rt.clock.now());
        dueTimer = setTimeout(run, Math.min(delay, 2 ** 31 - 1));
        dueTimer.unref();
      } while (rearm);
    } finally {
      arming = false;
    }
  }

  function run(): void {
    if (state !== "running") return;
    tick()
      .then(() => armDueTimer())
      .catch((error) => console.error(`taskledger scheduler ${id}: ${(error as Error).message}`));
  }

  return {
    id,
    tick,

    async start() {
      if (state !== "new") throw new Error("a scheduler can be started once");
      if (options.declared) await service.register(options.declared);
      state = "running";
      heartbeat = setInterval(run, rt.settings.heartbeatMs);
      heartbeat.unref();
      unsubscribe = rt.notifier.subscribe(() => {
        if (active) void armDueTimer().catch(() => {});
      });
      run();
    },

    async stop() {
      if (state !== "running") {
        state = "stopped";
        return;
      }
      state = "stopped";
      clearInterval(heartbeat);
      if (dueTimer) clearTimeout(dueTimer);
      unsubscribe?.();
      await queue;
      if (active) await leases.releaseLease(rt.db, leases.SCHEDULER_LEASE, id).catch(() => {});
      active = false;
    },
  };
}
