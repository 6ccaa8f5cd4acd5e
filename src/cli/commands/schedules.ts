import { invalid } from "../../core/errors.js";
import { scheduleToJson } from "../../http/presenters.js";
import {
  SCHEDULE_STATUSES,
  type Schedule,
  type ScheduleEntry,
  type ScheduleStatus,
} from "../../scheduler/types.js";
import { type Command, type CommandContext, UsageError } from "../command.js";
import { color, formatTime, TASK_HEADERS, table, taskLine, taskToJson, truncate } from "../output.js";

/**
 * What a schedule's status means, shown beside it: the stored words alone (`death` above all)
 * do not tell a reader whether the schedule still runs.
 */
const STATUS_MEANINGS = {
  running: "active",
  failed: "its last run failed; still scheduled",
  death: "no longer declared in code; will not run",
  paused: "will not run until resumed",
  done: "all its runs are done",
} as const;

function statusText(schedule: Schedule): string {
  const shown = (status: keyof typeof STATUS_MEANINGS) => `${status} — ${STATUS_MEANINGS[status]}`;
  if (schedule.pausedAt) return color.yellow(shown("paused"));
  if (schedule.status === "failed") return color.red(shown("failed"));
  if (schedule.status === "death") return color.dim(shown("death"));
  if (schedule.nextRunAt === null && !schedule.unreadable.includes("nextRunAt"))
    return color.green(shown("done"));
  return color.green(shown("running"));
}

/** What a stored field that could not be read shows as. */
const INVALID = "invalid";

function when(schedule: Schedule): string {
  if (schedule.unreadable.includes("spec")) return INVALID;
  if (schedule.cron !== null)
    return `cron ${schedule.cron}${schedule.tz && schedule.tz !== "UTC" ? ` (${schedule.tz})` : ""}`;
  return `every ${formatDuration(schedule.every ?? 0)}`;
}

function timeOf(schedule: Schedule, field: "nextRunAt" | "lastRunAt"): string {
  return schedule.unreadable.includes(field) ? INVALID : formatTime(schedule[field]);
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["min", 60_000],
    ["s", 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}

async function list({ flags, out, open }: CommandContext): Promise<number> {
  const statuses = (flags.status as string | undefined)?.split(",").map((s) => s.trim());
  for (const s of statuses ?? []) {
    if (!(SCHEDULE_STATUSES as readonly string[]).includes(s)) {
      throw invalid("status", `unknown status "${s}" (one of ${SCHEDULE_STATUSES.join(", ")})`);
    }
  }
  const { tl } = await open();
  const schedules = await tl.schedules.list({ status: statuses as ScheduleStatus[] | undefined, limit: 200 });
  if (out.json) {
    out.data({ schedules: schedules.map(scheduleToJson) });
    return 0;
  }
  if (schedules.length === 0) {
    out.line("No schedules.");
    return 0;
  }
  out.line(
    table(
      ["ID", "KEY", "TASK", "WHEN", "STATUS", "NEXT RUN", "LAST RUN", "RUNS", "DESCRIPTION"],
      schedules.map((s) => [
        String(s.id),
        s.key,
        s.name,
        when(s),
        statusText(s),
        timeOf(s, "nextRunAt"),
        timeOf(s, "lastRunAt"),
        s.repeat === null ? String(s.runCount) : `${s.runCount}/${s.repeat}`,
        truncate(s.description, 40),
      ]),
    ),
  );
  out.line(color.dim("runs of one: taskledger schedules runs KEY"));
  return 0;
}

async function runs(ctx: CommandContext): Promise<number> {
  const ref = keyArg(ctx.args);
  const limit = ctx.flags.limit === undefined ? 20 : Number(ctx.flags.limit);
  const { tl } = await ctx.open();
  const tasks = await tl.schedules.runs(ref, { limit });
  if (ctx.out.json) ctx.out.data({ runs: tasks.map(taskToJson) });
  else if (tasks.length === 0) ctx.out.line("No runs yet.");
  else
    ctx.out.line(
      table(
        ["SLOT", ...TASK_HEADERS],
        tasks.map((t) => [formatTime(t.slotAt), ...taskLine(t)]),
      ),
    );
  return 0;
}

async function sync({ out, open }: CommandContext): Promise<number> {
  const { tl, loaded } = await open();
  const declared = (loaded.config.schedules ?? []) as readonly ScheduleEntry[];
  const summary = await tl.schedules.register(declared);
  if (out.json) {
    out.data({ config: loaded.path, ...summary });
    return 0;
  }
  out.line(
    `Synced ${declared.length} declared schedule${declared.length === 1 ? "" : "s"} from ${loaded.path}`,
  );
  for (const [label, keys] of Object.entries(summary) as [string, string[]][]) {
    out.line(`  ${label.padEnd(8)} ${keys.length}${keys.length > 0 ? `  ${keys.join(", ")}` : ""}`);
  }
  return 0;
}

function keyArg(args: readonly string[]): string | number {
  const [key, ...extra] = args;
  if (!key) throw new UsageError("give a schedule key (or #id)");
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  return /^#\d+$/.test(key) ? Number(key.slice(1)) : key;
}

async function change(ctx: CommandContext, verb: "pause" | "resume"): Promise<number> {
  const ref = keyArg(ctx.args);
  const { tl } = await ctx.open();
  const schedule = verb === "pause" ? await tl.schedules.pause(ref) : await tl.schedules.resume(ref);
  if (ctx.out.json) ctx.out.data(scheduleToJson(schedule));
  else if (verb === "pause")
    ctx.out.line(`Schedule ${schedule.key} paused (a run already going is not touched).`);
  else ctx.out.line(`Schedule ${schedule.key} resumed; next run ${formatTime(schedule.nextRunAt)}.`);
  return 0;
}

async function remove(ctx: CommandContext): Promise<number> {
  const ref = keyArg(ctx.args);
  const { tl } = await ctx.open();
  const { schedule, runs } = await tl.schedules.remove(ref);
  if (ctx.out.json) ctx.out.data({ removed: scheduleToJson(schedule), runs });
  else ctx.out.line(`Schedule ${schedule.key} removed, with its ${runs} run${runs === 1 ? "" : "s"}.`);
  return 0;
}

export const schedulesCommand: Command = {
  name: "schedules",
  summary: "recurring schedules (schedules list|sync|pause KEY|resume KEY|remove KEY|runs KEY)",
  usage: [
    "Usage: taskledger schedules list [--status S[,S]] [--json]",
    "       taskledger schedules sync [--json]      make the config's `schedules` the truth in the ledger",
    "       taskledger schedules pause KEY [--json]",
    "       taskledger schedules resume KEY [--json]",
    "       taskledger schedules remove KEY [--json]  delete the schedule and all its runs",
    "       taskledger schedules runs KEY [--limit N] [--json]  its runs, newest first",
    "",
    "KEY is a schedule's key, or #ID for its id. Statuses (--status): running (active), failed (its last run",
    "failed; still scheduled), death (no longer declared in code; will not run). A worker started with",
    "--with-scheduler (or `taskledger start`) fires them.",
  ].join("\n"),
  options: {
    status: { type: "string" },
    limit: { type: "string" },
  },
  async run(ctx) {
    const [sub, ...args] = ctx.args;
    const rest = { ...ctx, args };
    switch (sub ?? "list") {
      case "list":
        if (args.length) throw new UsageError(`unexpected argument "${args[0]}"`);
        return list(rest);
      case "sync":
        if (args.length) throw new UsageError(`unexpected argument "${args[0]}"`);
        return sync(rest);
      case "pause":
      case "resume":
        return change(rest, sub as "pause" | "resume");
      case "remove":
        return remove(rest);
      case "runs":
        return runs(rest);
      default:
        throw new UsageError(`unknown subcommand "${sub}"`);
    }
  },
};
