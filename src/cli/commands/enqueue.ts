import { invalid } from "../../core/errors.js";
import { taskToJson } from "../../http/presenters.js";
import { type Command, noMoreArgs, UsageError } from "../command.js";
import { followTask } from "../follow.js";
import { formatTime, statusLabel } from "../output.js";

function optionalInt(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (String(value).trim() === "" || !Number.isInteger(n))
    throw invalid(field, `must be an integer (got ${String(value)})`);
  return n;
}

export const enqueueCommand: Command = {
  name: "enqueue",
  summary: "record a task and queue it (or reserve it with --at)",
  usage: "<task> --description TEXT [options]",
  flags: {
    description: {
      type: "string",
      value: "TEXT",
      help: "what the task does, as its lists show it; required",
    },
    payload: { type: "string", value: "JSON", help: "the task's argument, as JSON", default: "null" },
    at: {
      type: "string",
      value: "TIME",
      help: "reserve: run at this ISO-8601 time with its zone (…Z or …+09:00), at least the config's reservationLeadSeconds ahead",
      default: "now, queued at once",
    },
    owner: {
      type: "string",
      value: "USER",
      help: "the user the task belongs to (their lists, feed and cancel)",
      default: "none, a system task",
    },
    queue: {
      type: "string",
      value: "Q",
      help: "the queue to wait in; one the config declares",
      default: "the task's own, else default; high with --at",
    },
    timeout: {
      type: "string",
      value: "MS",
      help: "the longest one attempt may run, in milliseconds (at most 2147483647)",
      default: "the task's own, else 60000, one minute",
    },
    retry: {
      type: "string",
      value: "N",
      help: "retries after a failed first attempt, so N + 1 attempts at most, the task's delay apart",
      default: "the task's own, else 3, 5 s apart",
    },
    priority: {
      type: "string",
      value: "N",
      help: "higher runs first within its queue; an integer",
      default: "0",
    },
    "idempotency-key": {
      type: "string",
      value: "K",
      help: "one task per owner and key: run again with the same K, the command shows the task recorded first and writes nothing (the same K with another task, payload or --at is refused)",
      default: "none",
    },
    wait: {
      type: "boolean",
      help: "follow the task with a progress bar until it ends; exit 1 if it fails or is canceled",
    },
  },
  notes: [
    `Example: taskledger enqueue count_words --description "count words" \\`,
    `           --payload '"to be or not to be"' --wait`,
  ],
  async run({ args, flags, out, open }) {
    const [name, ...extra] = args;
    if (!name) throw new UsageError("name the task to enqueue");
    noMoreArgs(extra);
    let payload: unknown = null;
    if (flags.payload !== undefined) {
      try {
        payload = JSON.parse(String(flags.payload));
      } catch (error) {
        throw invalid("payload", `is not valid JSON (${(error as Error).message})`);
      }
    }
    const options = {
      description: flags.description as string,
      owner: flags.owner as string | undefined,
      queue: flags.queue as string | undefined,
      timeout: optionalInt(flags.timeout, "timeout"),
      retry: optionalInt(flags.retry, "retry"),
      priority: optionalInt(flags.priority, "priority"),
      idempotencyKey: flags["idempotency-key"] as string | undefined,
    };
    const { tl } = await open({ create: true });
    const { task, created } =
      flags.at === undefined
        ? await tl.tasks.enqueueResult(name, payload, options)
        : await tl.tasks.reserveResult(String(flags.at), name, payload, options);
    // A task recorded by an earlier run with the same --idempotency-key: shown as it stands now.
    const existing = created ? "" : " (existing task, same idempotency key)";
    if (!flags.wait) {
      if (out.json) out.data(taskToJson(task));
      else if (!created)
        out.line(`Task #${task.id} ${task.name} ${statusLabel(task)} (queue ${task.queue})${existing}`);
      else if (task.status === "reserved")
        out.line(
          `Reserved task #${task.id} ${task.name} for ${formatTime(task.reservedAt)} (queue ${task.queue})`,
        );
      else out.line(`Queued task #${task.id} ${task.name} (queue ${task.queue})`);
      return;
    }
    if (!out.json)
      out.line(
        `Task #${task.id} ${task.name} ${statusLabel(task)}${existing}; waiting (Ctrl-C stops waiting, not the task)…`,
      );
    const done = await followTask(tl, task.id, out);
    if (out.json) out.data(taskToJson(done));
    else if (done.failed) out.line(done.log ?? "");
    else out.line(`Result: ${JSON.stringify(done.result)}`);
    return done.failed ? 1 : 0;
  },
};
