import { invalid } from "../../core/errors.js";
import { DISPLAY_STATUSES, type DisplayStatus } from "../../core/types.js";
import { taskToJson } from "../../http/presenters.js";
import { type CommandContext, type CommandGroup, noMoreArgs, UsageError } from "../command.js";
import { followTask } from "../follow.js";
import {
  color,
  formatTime,
  progressBar,
  STATUS_NOTES,
  statusLabel,
  TASK_HEADERS,
  table,
  taskLine,
} from "../output.js";

function parseId([value, ...extra]: readonly string[]): number {
  if (value === undefined) throw new UsageError("give a task id");
  noMoreArgs(extra);
  return taskId(value, "id");
}

function taskId(value: string, field: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 1)
    throw invalid(field, `must be a positive integer task id (got ${value})`);
  return id;
}

async function list({ args, flags, out, open }: CommandContext): Promise<number> {
  noMoreArgs(args);
  const statuses = (flags.status as string | undefined)?.split(",").map((s) => s.trim()) ?? [];
  for (const s of statuses) {
    if (!(DISPLAY_STATUSES as readonly string[]).includes(s)) {
      throw invalid("status", `unknown status "${s}" (one of ${DISPLAY_STATUSES.join(", ")})`);
    }
  }
  if (flags.failed && !statuses.includes("failed")) statuses.push("failed");
  const limit = flags.limit === undefined ? 20 : Number(flags.limit);
  const cursor = flags.cursor === undefined ? undefined : taskId(String(flags.cursor), "cursor");
  const { tl } = await open();
  const tasks = await tl.tasks.list({
    owner: flags.owner as string | undefined,
    displayStatus: statuses.length > 0 ? (statuses as DisplayStatus[]) : undefined,
    name: flags.name as string | undefined,
    queue: flags.queue as string | undefined,
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
  const id = parseId(args);
  const { tl } = await open();
  let task = await tl.tasks.get(id);
  if (!task) throw invalid("id", `no task ${id}`);
  if (flags.follow) {
    if (!out.json) out.line(`Following task #${id} ${task.name} (Ctrl-C stops following, not the task)…`);
    task = await followTask(tl, id, out);
  }
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
  const id = parseId(args);
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

export const tasksCommand: CommandGroup = {
  name: "tasks",
  summary: "list, show or cancel tasks (tasks list|show ID|cancel ID)",
  fallback: "list",
  subcommands: [
    {
      name: "list",
      summary: "tasks, newest first, filtered",
      usage: "[options]",
      flags: {
        status: {
          type: "string",
          value: "S[,S]",
          help: `only tasks in these statuses: ${DISPLAY_STATUSES.join(", ")}`,
          default: "any",
        },
        failed: { type: "boolean", help: "the same as --status failed (canceled tasks: --status canceled)" },
        owner: { type: "string", value: "USER", help: "only this user's tasks", default: "everyone's" },
        name: { type: "string", value: "TASK", help: "only tasks of this name", default: "any" },
        queue: { type: "string", value: "Q", help: "only tasks in this queue", default: "any" },
        limit: { type: "string", value: "N", help: "at most N tasks, up to 200", default: "20" },
        cursor: {
          type: "string",
          value: "ID",
          help: "the page after this task id (the `more:` line, or nextCursor with --json)",
          default: "the newest",
        },
      },
      notes: STATUS_NOTES,
      run: list,
    },
    {
      name: "show",
      summary: "one task: payload, result, log, attempts, timing",
      usage: "ID [options]",
      flags: {
        follow: {
          type: "boolean",
          help: "draw its progress until it ends, then show it (Ctrl-C stops following, not the task)",
        },
      },
      notes: STATUS_NOTES,
      run: show,
    },
    {
      name: "cancel",
      summary: "cancel a task: a reserved or queued one at once, a running one by its worker",
      usage: "ID [options]",
      flags: {
        reservation: {
          type: "boolean",
          help: "cancel only while the task is still reserved (not yet due); refused once it is queued or running",
        },
      },
      notes: [
        "Exit 1 when the task cannot be canceled (it has ended, or has passed its point of no return).",
      ],
      run: cancel,
    },
  ],
};
