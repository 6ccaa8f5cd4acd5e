import { invalid } from "../../core/errors.js";
import { TASK_STATUSES, type Task } from "../../core/types.js";
import { taskToJson } from "../../http/presenters.js";
import { type Command, type CommandContext, UsageError } from "../command.js";
import { followTask } from "../follow.js";
import { color, formatTime, progressBar, statusLabel, TASK_HEADERS, table, taskLine } from "../output.js";

function parseId(value: string | undefined): number {
  if (value === undefined) throw new UsageError("give a task id");
  return taskId(value, "id");
}

function taskId(value: string, field: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 1)
    throw invalid(field, `must be a positive integer task id (got ${value})`);
  return id;
}

async function list({ flags, out, open }: CommandContext): Promise<number> {
  const status = flags.status as string | undefined;
  const statuses = status?.split(",").map((s) => s.trim());
  for (const s of statuses ?? []) {
    if (!(TASK_STATUSES as readonly string[]).includes(s)) {
      throw invalid("status", `unknown status "${s}" (one of ${TASK_STATUSES.join(", ")})`);
    }
  }
  const limit = flags.limit === undefined ? 20 : Number(flags.limit);
  const cursor = flags.cursor === undefined ? undefined : taskId(String(flags.cursor), "cursor");
  const { tl } = await open();
  const tasks = await tl.tasks.list({
    owner: flags.owner as string | undefined,
    status: statuses as Task["status"][] | undefined,
    name: flags.name as string | undefined,
    queue: flags.queue as string | undefined,
    failed: flags.failed ? true : undefined,
    limit,
    cursor,
  });
  const next = tasks.length === Math.min(limit, 200) ? tasks.at(-1)?.id : undefined;
  if (out.json) {
    out.data({ tasks: tasks.map(taskToJson), nextCursor: next ?? null });
    return 0;
  }
  if (tasks.length === 0) {
    out.line("No tasks.");
    return 0;
  }
  out.line(table(TASK_HEADERS, tasks.map(taskLine)));
  if (next) out.line(color.dim(`more: taskledger tasks list --cursor ${next}`));
  return 0;
}

async function show({ args, flags, out, open }: CommandContext): Promise<number> {
  const id = parseId(args[0]);
  const { tl } = await open();
  let task = await tl.tasks.get(id);
  if (!task) throw invalid("id", `no task ${id}`);
  if (flags.follow) task = await followTask(tl, id, out);
  if (out.json) {
    out.data(taskToJson(task));
    return 0;
  }
  const rows: [string, string][] = [
    ["id", String(task.id)],
    ["name", task.name],
    ["description", task.description],
    ["owner", task.owner ?? "-"],
    ["status", statusLabel(task)],
    ["progress", progressBar(task.progress)],
    ["queue", `${task.queue} (priority ${task.priority})`],
    ["attempts", `${task.attempts} of ${task.maxAttempts}`],
    ["timeout", `${task.timeoutMs} ms`],
    ["created", formatTime(task.createdAt)],
    ["reserved for", formatTime(task.reservedAt)],
    ["started", formatTime(task.startedAt)],
    ["finished", formatTime(task.finishedAt)],
    ["payload", JSON.stringify(task.payload)],
    ["result", JSON.stringify(task.result)],
  ];
  if (task.scheduleId !== null) rows.push(["schedule", `${task.scheduleId} slot ${formatTime(task.slotAt)}`]);
  if (task.cancelRequestedAt) rows.push(["cancel asked", formatTime(task.cancelRequestedAt)]);
  if (task.noReturnAt)
    rows.push(["no return", `${formatTime(task.noReturnAt)} — ${task.noReturnReason} (a cancel is refused)`]);
  for (const [key, value] of rows) out.line(`${color.bold(key.padEnd(13))} ${value}`);
  if (task.log) out.line(`${color.bold("log")}\n${task.log}`);
  return 0;
}

async function cancel({ args, flags, out, open }: CommandContext): Promise<number> {
  const id = parseId(args[0]);
  const { tl } = await open();
  const result = flags.reservation ? await tl.tasks.cancelReservation(id) : await tl.tasks.cancel(id);
  if (out.json) {
    out.data(
      result.ok
        ? { ok: true, task: taskToJson(result.task) }
        : { ok: false, reason: result.reason, task: result.task ? taskToJson(result.task) : null },
    );
  } else if (result.ok) {
    out.line(
      result.task.status === "running"
        ? `Task #${id} ${result.task.name}: cancel requested; its worker is stopping it.`
        : `Task #${id} ${result.task.name} canceled.`,
    );
  } else {
    out.error(`Task #${id} was not canceled: ${result.reason}`);
  }
  return result.ok ? 0 : 1;
}

export const tasksCommand: Command = {
  name: "tasks",
  summary: "list, show or cancel tasks (tasks list|show ID|cancel ID)",
  usage: [
    "Usage: taskledger tasks list [--status S[,S]] [--owner U] [--name N] [--queue Q] [--failed] [--limit N] [--cursor ID] [--json]",
    "       taskledger tasks show ID [--follow] [--json]",
    "       taskledger tasks cancel ID [--reservation] [--json]",
  ].join("\n"),
  options: {
    status: { type: "string" },
    owner: { type: "string" },
    name: { type: "string" },
    queue: { type: "string" },
    failed: { type: "boolean" },
    limit: { type: "string" },
    cursor: { type: "string" },
    follow: { type: "boolean" },
    reservation: { type: "boolean" },
  },
  async run(ctx) {
    const [sub, ...args] = ctx.args;
    const rest = { ...ctx, args };
    switch (sub ?? "list") {
      case "list":
        return list(rest);
      case "show":
        return show(rest);
      case "cancel":
        return cancel(rest);
      default:
        throw new UsageError(`unknown subcommand "${sub}"`);
    }
  },
};
