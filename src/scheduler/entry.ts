import { prepareTask } from "../client/validate.js";
import { assertPositiveInt, decodeRetry, describe, encodeRetry } from "../core/backoff.js";
import { invalid, TaskledgerError } from "../core/errors.js";
import { assertWithinHorizon, parseTime } from "../core/time.js";
import type { StoredSpec } from "../core/types.js";
import type { NewTask } from "../ledger/ledger.js";
import { readSpec } from "../ledger/rows.js";
import type { Runtime } from "../runtime.js";
import { parseCron, parseInterval, parseTimeZone, type Timing } from "./timing.js";
import type { ScheduleEntry } from "./types.js";

/**
 * A schedule entry checked field by field before anything is written, and the `spec` JSON it is
 * stored as. The options of each run (queue, timeout, retry, priority) are resolved against the
 * task's definition here and stored, so a scheduler fires runs without needing the task's code.
 */
export interface Draft extends StoredSpec {
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly owner: string | null;
  readonly type: "schedule" | "cron";
  /** Encoded JSON. */
  readonly payload: string;
  /** Undefined: the schedule's first creation (an existing schedule keeps its start). */
  readonly startAt?: number;
}

const KEY_PATTERN = /^[^\s\p{Cc}](?:[^\p{Cc}]{0,198}[^\s\p{Cc}])?$/u;

/** Check one entry; `prefix` names it in a list (`schedules[2].`). */
export function prepareEntry(rt: Runtime, entry: ScheduleEntry, now: number, prefix = ""): Draft {
  const field = (name: string) => `${prefix}${name}`;
  if (typeof entry !== "object" || entry === null)
    throw invalid(prefix.replace(/\.$/, "") || "schedule", "must be an object");
  const { key } = entry;
  if (typeof key !== "string" || !KEY_PATTERN.test(key)) {
    throw invalid(
      field("key"),
      `must be 1–200 characters without control characters or surrounding spaces (got ${describe(key)})`,
    );
  }
  const definition = rt.registry.resolve(entry.task, field("task"));
  const hasEvery = entry.every !== undefined;
  const hasCron = entry.cron !== undefined;
  if (hasEvery === hasCron) {
    throw invalid(
      field(hasEvery ? "cron" : "every"),
      hasEvery ? "give either every or cron, not both" : "give every (ms) or cron",
    );
  }
  let timing: Pick<Draft, "type" | "every" | "startAt" | "cron" | "tz">;
  if (hasEvery) {
    if (entry.tz !== undefined) throw invalid(field("tz"), "applies to cron schedules only");
    timing = {
      type: "schedule",
      every: parseInterval(entry.every, field("every")),
      ...(entry.startAt === undefined
        ? {}
        : { startAt: parseStart(rt, entry.startAt, now, field("startAt")) }),
    };
  } else {
    if ((entry as { startAt?: unknown }).startAt !== undefined)
      throw invalid(field("startAt"), "applies to interval schedules only");
    const tz = entry.tz === undefined ? "UTC" : parseTimeZone(entry.tz, field("tz"));
    timing = { type: "cron", cron: parseCron(entry.cron, tz, now, field("cron")), tz };
  }
  let repeat: number | null = null;
  if (entry.repeat !== undefined && entry.repeat !== null) {
    assertPositiveInt(entry.repeat, field("repeat"));
    repeat = entry.repeat;
  }
  const overlap = entry.overlap ?? "skip";
  if (overlap !== "skip" && overlap !== "allow")
    throw invalid(field("overlap"), `must be "skip" or "allow" (got ${describe(overlap)})`);
  let task: NewTask;
  try {
    task = prepareTask(
      definition,
      entry.payload ?? null,
      {
        description: entry.description,
        owner: entry.owner,
        queue: entry.queue,
        timeout: entry.timeout,
        retry: entry.retry,
        priority: entry.priority,
      },
      rt,
      "queued",
      null,
      "default",
    );
  } catch (error) {
    throw prefix ? prefixField(error, prefix) : error;
  }
  return {
    key,
    name: definition.name,
    description: task.description,
    owner: task.owner,
    payload: task.payload,
    ...timing,
    repeat,
    overlap,
    run: {
      queue: task.queue,
      priority: task.priority,
      timeoutMs: task.timeoutMs,
      maxAttempts: task.maxAttempts,
      retry: task.retry,
    },
  };
}

/** A first slot: any real date up to `reservationHorizonDays` ahead (a past one fires from the next slot on). */
function parseStart(rt: Runtime, value: unknown, now: number, field: string): number {
  const time = parseTime(value, field);
  assertWithinHorizon(time, now, rt.settings.reservationHorizonDays, field);
  return time;
}

/** Check a whole `register` list: every entry, and no key twice. */
export function prepareEntries(rt: Runtime, list: readonly ScheduleEntry[], now: number): Draft[] {
  if (!Array.isArray(list)) throw invalid("schedules", "must be an array of schedule entries");
  const seen = new Map<string, number>();
  return list.map((entry, index) => {
    const draft = prepareEntry(rt, entry, now, `schedules[${index}].`);
    const first = seen.get(draft.key);
    if (first !== undefined)
      throw invalid(`schedules[${index}].key`, `duplicate key "${draft.key}" (also schedules[${first}])`);
    seen.set(draft.key, index);
    return draft;
  });
}

/** The stored spec, in a fixed key order so that equal specs have equal text. */
export function specOf(draft: Draft, startAt: number): StoredSpec {
  const run = draft.run;
  const timing =
    draft.type === "schedule" ? { every: draft.every!, startAt } : { cron: draft.cron!, tz: draft.tz! };
  return {
    ...timing,
    repeat: draft.repeat,
    overlap: draft.overlap,
    run: {
      queue: run.queue,
      priority: run.priority,
      timeoutMs: run.timeoutMs,
      maxAttempts: run.maxAttempts,
      retry: run.retry,
    },
  };
}

/**
 * A stored spec as this version would write it. Specs stored before the compact retry form hold
 * their runs' retry policy as JSON; compared as stored, every such schedule would count as
 * changed on the first `register` after an upgrade.
 */
export function currentSpecText(text: string): string {
  const spec = readSpec(text);
  const retry = spec?.run.retry;
  if (spec === undefined || typeof retry !== "string" || !retry.startsWith("{")) return text;
  return JSON.stringify({ ...spec, run: { ...spec.run, retry: encodeRetry(decodeRetry(retry)) } });
}

export function timingOf(type: string, spec: StoredSpec): Timing {
  return type === "cron"
    ? { type: "cron", cron: spec.cron!, tz: spec.tz! }
    : { type: "schedule", every: spec.every!, startAt: spec.startAt! };
}

function prefixField(error: unknown, prefix: string): unknown {
  if (error instanceof TaskledgerError && error.field) {
    return new TaskledgerError(error.code, `${prefix}${error.message}`, { field: `${prefix}${error.field}` });
  }
  return error;
}
