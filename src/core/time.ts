import { describe } from "./backoff.js";
import { invalid } from "./errors.js";

/**
 * Times a caller gives taskledger — a reservation, a schedule's first slot — as a Date, epoch
 * milliseconds, or an ISO-8601 string that says its zone. A string without a zone is refused: it
 * would be read in the host's zone, and mean another instant on another machine.
 */

const DAY_MS = 86_400_000;
/** The Date range: 100 000 000 days either side of 1970. */
const DATE_RANGE_MS = 8.64e15;
const EXAMPLES = '"2030-01-01T09:00:00Z" or "2030-01-01T18:00:00+09:00"';
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** The default `reservationHorizonDays`. */
export const DEFAULT_HORIZON_DAYS = 366;
/** The largest `reservationHorizonDays`: a century, so every time it allows is a real date. */
export const MAX_HORIZON_DAYS = 36_525;

/** A Date, epoch ms or ISO-8601 string with its zone, as epoch ms; `field` names it in errors. */
export function parseTime(value: unknown, field: string): number {
  let time: number;
  if (value instanceof Date) time = value.getTime();
  else if (typeof value === "number") time = value;
  else if (typeof value === "string" && value.trim() !== "") time = parseIsoTime(value.trim(), field);
  else
    throw invalid(
      field,
      `must be a Date, an ISO-8601 time with its zone or epoch milliseconds (got ${describe(value)})`,
    );
  if (!Number.isFinite(time)) throw invalid(field, `is not a valid date (got ${describe(value)})`);
  if (Math.abs(time) > DATE_RANGE_MS)
    throw invalid(field, `is not a valid date: ${describe(value)} ms is beyond the range of dates`);
  return time;
}

/** Refuse a time more than `horizonDays` after `now` (the `reservationHorizonDays` setting). */
export function assertWithinHorizon(time: number, now: number, horizonDays: number, field: string): void {
  if (time - now > horizonDays * DAY_MS) {
    throw invalid(
      field,
      `is more than ${horizonDays} days ahead (${new Date(time).toISOString()}); the limit is reservationHorizonDays (${horizonDays})`,
    );
  }
}

function parseIsoTime(text: string, field: string): number {
  const match = ISO_TIME.exec(text);
  if (!match) {
    throw invalid(
      field,
      `is not a valid date: give an ISO-8601 time with its zone, such as ${EXAMPLES} (got ${describe(text)})`,
    );
  }
  const [, year, month, day, hour, minute, second = "0", fraction = "", zone] = match;
  if (zone === undefined) {
    throw invalid(
      field,
      `${describe(text)} has no time zone: add Z or an offset such as +09:00 (without one it would be read in the host's zone)`,
    );
  }
  const [y, mo, d] = [Number(year), Number(month) - 1, Number(day)];
  const [h, mi, s] = [Number(hour), Number(minute), Number(second)];
  const date = new Date(0);
  date.setUTCFullYear(y, mo, d);
  date.setUTCHours(h, mi, s, Number(fraction.slice(0, 3).padEnd(3, "0")));
  const offset = zoneOffset(zone);
  // Date rolls 30 February over into March and 24:00 into the next day: refuse instead.
  const real = date.getUTCMonth() === mo && date.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
  if (!real || offset === undefined) throw invalid(field, `is not a valid date (got ${describe(text)})`);
  return date.getTime() - offset;
}

/** `Z`, `+09:00` or `-0130` in ms east of UTC; undefined when it is not an offset. */
function zoneOffset(zone: string): number | undefined {
  if (zone.toUpperCase() === "Z") return 0;
  const [, sign, hours, minutes] = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  if (Number(hours) > 23 || Number(minutes) > 59) return undefined;
  return (sign === "-" ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000;
}
