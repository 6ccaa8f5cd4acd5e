import { Cron } from "croner";
import { describe } from "../core/backoff.js";
import { invalid } from "../core/errors.js";

/**
 * When a schedule's slots fall. Every function here is pure and works in UTC epoch milliseconds,
 * so results never depend on the host's time zone: cron times are computed in the schedule's own
 * IANA zone (croner), intervals are plain arithmetic.
 */
export type Timing =
  | { readonly type: "schedule"; readonly every: number; readonly startAt: number }
  | { readonly type: "cron"; readonly cron: string; readonly tz: string };

/** The shortest interval: a schedule is not a busy loop. */
export const MIN_INTERVAL_MS = 1_000;
/** The longest interval, 3 650 days (about 10 years): every slot stays a real date. */
export const MAX_INTERVAL_MS = 3_650 * 86_400_000;

// Parsed patterns, recent answers and known zones; cleared whole when full (they are cheap to redo).
const cache = new Map<string, Cron>();
const nextRuns = new Map<string, number | null>();
const zones = new Set<string>();
const CACHE_SIZE = 2_000;

/** The first slot strictly after `after`, or null when there is none. */
export function slotAfter(timing: Timing, after: number): number | null {
  if (timing.type === "schedule") {
    if (after < timing.startAt) return timing.startAt;
    return timing.startAt + (Math.floor((after - timing.startAt) / timing.every) + 1) * timing.every;
  }
  // Schedules on one pattern come due together and ask the same question: answer it once.
  const id = `${timing.tz} ${timing.cron} ${after}`;
  let next = nextRuns.get(id);
  if (next === undefined) {
    next = cronFor(timing.cron, timing.tz).nextRun(new Date(after))?.getTime() ?? null;
    if (nextRuns.size >= CACHE_SIZE) nextRuns.clear();
    nextRuns.set(id, next);
  }
  return next;
}

/**
 * Given `due`, a slot at or before `now`: the latest slot at or before `now` (the one a late
 * scheduler fires, once, for everything it missed) and the first slot after `now`.
 */
export function catchUp(timing: Timing, due: number, now: number): { slot: number; next: number | null } {
  let slot = due;
  if (timing.type === "schedule") {
    if (now >= timing.startAt)
      slot = Math.max(due, timing.startAt + Math.floor((now - timing.startAt) / timing.every) * timing.every);
    return { slot, next: slotAfter(timing, Math.max(slot, now)) };
  }
  for (let step = 0; step < 64; step++) {
    const next = slotAfter(timing, slot);
    if (next === null || next > now) return { slot, next };
    slot = next;
  }
  // Long downtime of a frequent cron: jump straight to the last slot instead of walking there.
  const previous = cronFor(timing.cron, timing.tz)
    .previousRuns(1, new Date(now + 1))[0]
    ?.getTime();
  if (previous !== undefined && previous > slot) slot = previous;
  return { slot, next: slotAfter(timing, Math.max(slot, now)) };
}

/** A parsed cron pattern (croner), 5 fields or 6 with seconds; parsed once per pattern and zone. */
function cronFor(pattern: string, tz: string): Cron {
  const id = `${tz} ${pattern}`;
  let cron = cache.get(id);
  if (!cron) {
    // 5 or 6 fields only; day-of-month and day-of-week are OR-ed, as in Vixie cron (croner's default).
    cron = new Cron(pattern, { timezone: tz, mode: "5-or-6-parts" });
    if (cache.size >= CACHE_SIZE) cache.clear();
    cache.set(id, cron);
  }
  return cron;
}

/** A valid cron expression that fires at least once after `now`, or a clear error naming `field`. */
export function parseCron(expression: unknown, tz: string, now: number, field: string): string {
  if (typeof expression !== "string" || expression.trim() === "") {
    throw invalid(field, `must be a cron expression such as "*/5 * * * *" (got ${describe(expression)})`);
  }
  const pattern = expression.trim().replace(/\s+/g, " ");
  checkFieldRanges(pattern, field);
  let next: number | null;
  try {
    next = slotAfter({ type: "cron", cron: pattern, tz }, now);
  } catch (error) {
    const reason = (error as Error).message.replace(/^CronPattern:\s*/, "");
    throw invalid(field, `"${expression}" is not a valid cron expression (${reason})`);
  }
  if (next === null) throw invalid(field, `"${expression}" never fires: no date matches it`);
  return pattern;
}

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day-of-week", min: 0, max: 7 },
] as const;
const SECONDS = { name: "second", min: 0, max: 59 } as const;

/**
 * Name the field and its range when a number is out of it ("day-of-month 32 is out of range
 * 1–31"); croner's own messages count days and months from 0. Everything else is left to croner.
 */
function checkFieldRanges(pattern: string, field: string): void {
  const parts = pattern.split(" ");
  if (parts.length !== 5 && parts.length !== 6) {
    if (parts.length === 1 && pattern.startsWith("@")) return; // @hourly, @daily, …
    throw invalid(
      field,
      `"${pattern}" has ${parts.length} field${parts.length === 1 ? "" : "s"}; a cron expression has 5 (minute hour day-of-month month day-of-week), or 6 with seconds first`,
    );
  }
  const specs = parts.length === 6 ? [SECONDS, ...FIELDS] : FIELDS;
  parts.forEach((part, index) => {
    const spec = specs[index]!;
    for (const item of part.split(",")) {
      // The step after "/" and the occurrence after "#" are counts, not values of the field.
      const values = item.split(/[/#]/)[0]!.split("-");
      for (const value of values) {
        if (!/^\d+$/.test(value)) continue;
        const n = Number(value);
        if (n < spec.min || n > spec.max) {
          throw invalid(field, `${spec.name} ${n} is out of range ${spec.min}–${spec.max} in "${pattern}"`);
        }
      }
    }
  });
}

/** An IANA time zone name the runtime knows ("UTC", "Europe/Paris", "America/New_York"). */
export function parseTimeZone(value: unknown, field: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw invalid(field, `must be an IANA time zone name such as "Europe/Paris" (got ${describe(value)})`);
  }
  if (zones.has(value)) return value;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
  } catch {
    throw invalid(field, `unknown time zone "${value}" (use an IANA name such as "Europe/Paris" or "UTC")`);
  }
  zones.add(value);
  return value;
}

/** An interval in milliseconds: an integer from one second to 3 650 days. */
export function parseInterval(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalid(field, `must be a number of milliseconds (got ${describe(value)})`);
  }
  if (!Number.isInteger(value) || value < MIN_INTERVAL_MS) {
    throw invalid(
      field,
      `must be a whole number of milliseconds, at least ${MIN_INTERVAL_MS} (1 s) (got ${describe(value)})`,
    );
  }
  if (value > MAX_INTERVAL_MS) {
    throw invalid(
      field,
      `must be at most ${MAX_INTERVAL_MS} ms (3650 days, about 10 years) (got ${describe(value)})`,
    );
  }
  return value;
}
