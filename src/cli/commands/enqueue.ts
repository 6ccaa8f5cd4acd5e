import { invalid } from "../../core/errors.js";
import { taskToJson } from "../../http/presenters.js";
import { type Command, UsageError } from "../command.js";
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
  usage: [
    "Usage: taskledger enqueue <task> --description TEXT [--payload JSON] [--at ISO-8601] [--owner USER]",
    "                          [--queue Q] [--timeout MS] [--retry N] [--priority N] [--idempotency-key K]",
    "                          [--wait] [--json]",
    "",
    "  --payload JSON          the task's argument, as JSON (default null)",
    "  --at TIME               reserve: run at this ISO-8601 time, with its zone (…Z or …+09:00)",
    "  --idempotency-key K     one task per owner and key: run again with the same K, the command",
    "                          shows the task recorded first and writes nothing (the same K with",
    "                          another task, payload or --at is refused)",
    "  --wait                  follow the task with a progress bar until it ends (exit 1 if it fails)",
    "",
    `Example: taskledger enqueue count_words --description "count words" --payload '"to be or not to be"' --wait`,
  ].join("\n"),
  options: {
    description: { type: "string" },
    payload: { type: "string" },
    at: { type: "string" },
    owner: { type: "string" },
    queue: { type: "string" },
    timeout: { type: "string" },
    retry: { type: "string" },
    priority: { type: "string" },
    "idempotency-key": { type: "string" },
    wait: { type: "boolean" },
  },
  async run({ args, flags, out, open }) {
    const [name, ...extra] = args;
    if (!name) throw new UsageError("name the task to enqueue");
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
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
    const { tl } = await open();
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
