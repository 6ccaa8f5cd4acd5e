import { cancelTask } from "../client/record.js";
import { clampLimit } from "../client/task-service.js";
import { describe } from "../core/backoff.js";
import { invalid, TaskledgerError } from "../core/errors.js";
import type { Task } from "../core/types.js";
import * as queries from "../ledger/queries.js";
import { readSpec, toSchedule, toTask } from "../ledger/rows.js";
import * as store from "../ledger/schedules.js";
import type { ScheduledTaskRow } from "../ledger/schema.js";
import type { Runtime } from "../runtime.js";
import type { PayloadOf, TaskDefinition } from "../tasks/define.js";
import { currentSpecText, type Draft, prepareEntries, prepareEntry, specOf, timingOf } from "./entry.js";
import { slotAfter } from "./timing.js";
import type {
  CronSchedule,
  IntervalSchedule,
  RegisterSummary,
  Schedule,
  ScheduleEntry,
  ScheduleStatus,
} from "./types.js";

export interface ScheduleListOptions {
  readonly status?: ScheduleStatus | readonly ScheduleStatus[];
  readonly owner?: string | null;
  /** At most 200; default 100. */
  readonly limit?: number;
  /** The key of the last schedule of the previous page. */
  readonly after?: string;
}

export interface RunsOptions {
  readonly status?: Task["status"] | readonly Task["status"][];
  /** At most 200; default 20. */
  readonly limit?: number;
  /** The id of the last run of the previous page. */
  readonly cursor?: number;
}

/** A schedule by its key, or by its numeric id. */
export type ScheduleRef = string | number;

/**
 * The seeds' SchedulerService: recurring work in SQL. Writing a schedule never runs anything:
 * the scheduler (`createWorker({ withScheduler: true })`) enqueues one task per due slot and the
 * workers run it.
 */
export class ScheduleService {
  readonly #rt: Runtime;

  constructor(rt: Runtime) {
    this.#rt = rt;
  }

  /**
   * Run a task every `every` ms from `startAt` (default now), `repeat` times in all if given. The
   * key identifies it: calling again with the same key updates it in place (or leaves it alone
   * when nothing changed), so this is safe to call at every start of an app.
   *
   * ```ts
   * await tl.schedules.schedule({ key: "rss", task: fetchRss, payload: { url }, description: "fetch the feed", every: 5 * 60_000 });
   * ```
   */
  async schedule<T extends TaskDefinition>(entry: IntervalSchedule<T>): Promise<Schedule<PayloadOf<T>>> {
    if (typeof entry === "object" && entry !== null && entry.cron !== undefined) {
      throw invalid("cron", "belongs to cron schedules: use schedules.cron()");
    }
    return (await this.#upsert(entry)) as Schedule<PayloadOf<T>>;
  }

  /**
   * Run a task on a cron expression read in an IANA time zone (default UTC).
   *
   * ```ts
   * await tl.schedules.cron({ key: "digest", task: sendDigest, description: "daily digest", cron: "0 8 * * 1-5", tz: "Europe/Paris" });
   * ```
   */
  async cron<T extends TaskDefinition>(entry: CronSchedule<T>): Promise<Schedule<PayloadOf<T>>> {
    if (typeof entry === "object" && entry !== null && entry.every !== undefined) {
      throw invalid("every", "belongs to interval schedules: use schedules.schedule()");
    }
    return (await this.#upsert(entry)) as Schedule<PayloadOf<T>>;
  }

  /**
   * Make the schedules declared in code the truth (the seeds' `register_schedules`): new keys are
   * added (a `death` row with the key is revived, keeping its runs), changed ones updated in
   * place, unchanged ones left alone, and declared ones missing from the list retired as `death`.
   * Schedules made with `schedule()` / `cron()` are not retired by a list that does not name them.
   * Every entry is checked before anything is written.
   */
  async register(list: readonly ScheduleEntry[]): Promise<RegisterSummary> {
    await this.#rt.ready();
    const now = this.#rt.clock.now();
    const drafts = prepareEntries(this.#rt, list, now);
    const summary = await this.#rt.transaction(async (tx) => {
      const summary: RegisterSummary = { added: [], revived: [], updated: [], kept: [], removed: [] };
      const existing = new Map(
        (
          await store.getSchedulesByKey(
            tx,
            drafts.map((d) => d.key),
          )
        ).map((row) => [row.key, row]),
      );
      const inserts: store.NewSchedule[] = [];
      for (const draft of drafts) {
        const change = plan(draft, existing.get(draft.key), now, true);
        summary[change.kind].push(draft.key);
        if (change.insert) inserts.push(change.insert);
        else if (change.update) await store.updateSchedule(tx, change.id, change.update, now);
      }
      await store.insertSchedules(tx, inserts, now);
      const listed = new Set(drafts.map((d) => d.key));
      for (const row of await store.liveDeclaredSchedules(tx)) {
        if (listed.has(row.key)) continue;
        await store.updateSchedule(tx, Number(row.id), { status: "death", next_run_at: null }, now);
        summary.removed.push(row.key);
      }
      summary.removed.sort();
      return summary;
    });
    this.#rt.notifier.changed();
    return summary;
  }

  /** Schedules in key order. */
  async list(options: ScheduleListOptions = {}): Promise<Schedule[]> {
    await this.#rt.ready();
    const status =
      options.status === undefined
        ? undefined
        : typeof options.status === "string"
          ? [options.status]
          : [...options.status];
    const rows = await store.listSchedules(this.#rt.db, {
      status,
      owner: options.owner,
      after: options.after,
      limit: clampLimit(options.limit, 100),
    });
    return rows.map(toSchedule);
  }

  /** One schedule by key or id, or `undefined`. */
  async get(ref: ScheduleRef): Promise<Schedule | undefined> {
    await this.#rt.ready();
    const row = await store.getSchedule(this.#rt.db, assertRef(ref));
    return row ? toSchedule(row) : undefined;
  }

  /** Stop firing until `resume`; a run already going is not touched. */
  async pause(ref: ScheduleRef): Promise<Schedule> {
    return this.#change(ref, (row, now) => (row.paused_at === null ? { paused_at: now } : undefined));
  }

  /** Fire again from the next slot; slots that fell while paused are not caught up. */
  async resume(ref: ScheduleRef): Promise<Schedule> {
    return this.#change(ref, (row, now) => {
      if (row.status === "death") {
        throw new TaskledgerError(
          "conflict",
          `schedule "${row.key}" is dead (no longer declared); register it again to revive it`,
        );
      }
      if (row.paused_at === null) return undefined;
      return { paused_at: null, next_run_at: firstSlot(row, now) };
    });
  }

  /**
   * Delete a schedule and, with it, all its runs (their rows cascade). Runs still waiting are
   * dropped from the queue; a run going is asked to stop, as `tasks.cancel` does.
   */
  async remove(ref: ScheduleRef): Promise<{ schedule: Schedule; runs: number }> {
    await this.#rt.ready();
    const key = assertRef(ref);
    const now = this.#rt.clock.now();
    return this.#rt.write(async (tx, commit) => {
      const row = await store.getSchedule(tx, key);
      if (!row) throw notFound(key);
      const id = Number(row.id);
      // Its runs go with it (the rows cascade): waiting ones are taken back, running ones asked to stop.
      const unfinished = await store.unfinishedRuns(tx, id);
      await commit.withdraw(unfinished.filter((r) => r.status !== "running"));
      for (const run of unfinished.filter((r) => r.status === "running")) {
        await cancelTask(commit, run, "", now);
      }
      const runs = await store.countRuns(tx, id);
      await store.deleteSchedule(tx, id);
      commit.changed();
      return { schedule: toSchedule(row), runs };
    });
  }

  /** A schedule's runs, newest first; page with `cursor` (the last id seen). */
  async runs(ref: ScheduleRef, options: RunsOptions = {}): Promise<Task[]> {
    await this.#rt.ready();
    const key = assertRef(ref);
    const row = await store.getSchedule(this.#rt.db, key);
    if (!row) throw notFound(key);
    const rows = await queries.listTasks(this.#rt.db, {
      scheduleId: Number(row.id),
      status: options.status,
      cursor: options.cursor,
      limit: clampLimit(options.limit, 20),
    });
    return rows.map(toTask);
  }

  async #upsert(entry: ScheduleEntry): Promise<Schedule> {
    await this.#rt.ready();
    const now = this.#rt.clock.now();
    const draft = prepareEntry(this.#rt, entry, now);
    const row = await this.#rt.transaction(async (tx) => {
      const existing = await store.getSchedule(tx, draft.key);
      const change = plan(draft, existing, now, false);
      if (change.insert) await store.insertSchedules(tx, [change.insert], now);
      else if (change.update) await store.updateSchedule(tx, change.id, change.update, now);
      return (await store.getSchedule(tx, draft.key))!;
    });
    this.#rt.notifier.changed();
    return toSchedule(row);
  }

  async #change(
    ref: ScheduleRef,
    update: (row: ScheduledTaskRow, now: number) => Partial<ScheduledTaskRow> | undefined,
  ): Promise<Schedule> {
    await this.#rt.ready();
    const key = assertRef(ref);
    const row = await this.#rt.transaction(async (tx) => {
      const now = this.#rt.clock.now();
      const row = await store.getSchedule(tx, key);
      if (!row) throw notFound(key);
      const set = update(row, now);
      return set ? ((await store.updateSchedule(tx, Number(row.id), set, now)) ?? row) : row;
    });
    this.#rt.notifier.changed();
    return toSchedule(row);
  }
}

type Change =
  | { kind: "added"; insert: store.NewSchedule; update?: undefined; id?: undefined }
  | {
      kind: "revived" | "updated" | "kept";
      insert?: undefined;
      id: number;
      update: Partial<ScheduledTaskRow> | undefined;
    };

/**
 * What an entry does to the database: insert a new row, revive a dead one, update a changed one
 * (recomputing its next slot), or leave an unchanged one alone. `declare` marks the row as
 * managed by `register`.
 */
function plan(draft: Draft, existing: ScheduledTaskRow | undefined, now: number, declare: boolean): Change {
  const previousStart = existing?.type === "schedule" ? readSpec(existing.spec)?.startAt : undefined;
  const spec = specOf(draft, draft.startAt ?? previousStart ?? now);
  const fields = {
    name: draft.name,
    description: draft.description,
    owner: draft.owner,
    type: draft.type,
    payload: draft.payload,
    spec: JSON.stringify(spec),
  };
  if (!existing) {
    const next = slotAfter(timingOf(draft.type, spec), now - 1);
    return {
      kind: "added",
      insert: {
        key: draft.key,
        ...fields,
        status: "running",
        paused_at: null,
        next_run_at: next,
        last_run_at: null,
        run_count: 0,
        declared: declare ? 1 : 0,
      },
    };
  }
  const id = Number(existing.id);
  const declared = declare ? 1 : Number(existing.declared);
  const stored = { ...existing, spec: currentSpecText(existing.spec) };
  const changed = (Object.keys(fields) as (keyof typeof fields)[]).some((k) => stored[k] !== fields[k]);
  if (existing.status === "death" || changed) {
    const next = firstSlot({ ...existing, ...fields }, now);
    const update = { ...fields, status: "running", next_run_at: next, declared };
    if (existing.status === "death") return { kind: "revived", id, update: { ...update, paused_at: null } };
    return { kind: "updated", id, update };
  }
  const update: Partial<ScheduledTaskRow> = {};
  if (existing.status === "failed") update.status = "running";
  if (declared !== Number(existing.declared)) update.declared = declared;
  return { kind: "kept", id, update: Object.keys(update).length > 0 ? update : undefined };
}

/** The next slot from now on, after the latest run; none once `repeat` runs were made. */
function firstSlot(
  row: Pick<ScheduledTaskRow, "key" | "type" | "spec" | "run_count" | "last_run_at">,
  now: number,
): number | null {
  const spec = readSpec(row.spec);
  if (spec === undefined) {
    throw new TaskledgerError(
      "conflict",
      `schedule "${row.key}" has an unreadable stored spec; write it again (schedule, cron or register) or remove it`,
    );
  }
  if (spec.repeat !== null && Number(row.run_count) >= spec.repeat) return null;
  const lastRun = row.last_run_at === null ? -Infinity : Number(row.last_run_at);
  return slotAfter(timingOf(row.type, spec), Math.max(now - 1, lastRun));
}

function assertRef(ref: unknown): ScheduleRef {
  if (typeof ref === "string" && ref !== "") return ref;
  if (typeof ref === "number" && Number.isSafeInteger(ref) && ref > 0) return ref;
  throw invalid("key", `must be a schedule key or a positive integer id (got ${describe(ref)})`);
}

function notFound(ref: ScheduleRef): TaskledgerError {
  return new TaskledgerError(
    "not_found",
    `key: no schedule ${typeof ref === "number" ? `#${ref}` : `"${ref}"`}`,
    { field: "key" },
  );
}
