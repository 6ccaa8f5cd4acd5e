import { limitsOf } from "../../maintenance/prune.js";
import { type Command, UsageError } from "../command.js";

const UNITS = [
  { suffix: "d", ms: 86_400_000, name: "day" },
  { suffix: "h", ms: 3_600_000, name: "hour" },
  { suffix: "m", ms: 60_000, name: "minute" },
  { suffix: "s", ms: 1_000, name: "second" },
] as const;

/** `30d`, `12h`, `90m`, `3600s` → milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+)([dhms])$/.exec(value.trim());
  const unit = match && UNITS.find((u) => u.suffix === match[2]);
  const ms = match && unit ? Number(match[1]) * unit.ms : Number.NaN;
  if (!Number.isSafeInteger(ms)) {
    throw new UsageError(`${flag}: expected a duration such as 30d, 12h, 90m or 3600s (got "${value}")`);
  }
  return ms;
}

/** Milliseconds in the largest unit that divides them: "30 days", "90 minutes", "1 hour". */
export function formatDuration(ms: number): string {
  const unit = UNITS.find((u) => ms % u.ms === 0 && ms > 0);
  if (!unit) return `${count(ms)} ms`;
  return plural(ms / unit.ms, unit.name);
}

const count = (n: number) => n.toLocaleString("en-US");
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? "" : "s"}`;

export const pruneCommand: Command = {
  name: "prune",
  summary: "remove old ended tasks, old notifications and schedule runs beyond the limit",
  usage: [
    "Usage: taskledger prune [--older-than 30d] [--dry-run] [--json]",
    "",
    "  --older-than AGE   remove finished and canceled tasks that ended, and notifications written,",
    "                     longer ago than AGE: 30d, 12h, 90m, 3600s (default: the config's",
    "                     retention.maxAgeMs, else 30d)",
    "  --dry-run          count what would be removed; remove nothing",
    "",
    "Tasks still reserved, queued or running are never removed. Of each schedule's runs, the newest",
    "retention.scheduleRuns (default 100) are kept. Workers prune by themselves every",
    "retention.intervalMs (default 1 hour) unless the config sets retention: false.",
  ].join("\n"),
  options: {
    "older-than": { type: "string" },
    "dry-run": { type: "boolean" },
  },
  async run({ args, flags, out, open }) {
    if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
    const given = flags["older-than"] === undefined ? undefined : String(flags["older-than"]);
    const flagged = given === undefined ? undefined : parseDuration(given, "--older-than");
    const dryRun = Boolean(flags["dry-run"]);
    const { tl } = await open();
    const olderThan = flagged ?? limitsOf(tl.settings).maxAgeMs;
    const report = await tl.prune({ olderThan, dryRun });
    if (out.json) {
      out.data({ ...report, olderThanMs: olderThan, dryRun });
      return;
    }
    const what = `${plural(report.tasks, "task")}, ${plural(report.notifications, "notification")} and ${plural(report.scheduleRuns, "schedule run")}`;
    out.line(
      `${dryRun ? "Would prune" : "Pruned"} ${what} older than ${formatDuration(olderThan)} from ${tl.ledger.location}`,
    );
  },
};
