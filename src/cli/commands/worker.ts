import { invalid } from "../../core/errors.js";
import type { Command, Flag } from "../command.js";
import { color } from "../output.js";
import { startWorker, untilSignal } from "../serve.js";

export function parseQueues(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const queues = String(value)
    .split(",")
    .map((q) => q.trim())
    .filter(Boolean);
  if (queues.length === 0) throw invalid("queues", "must name at least one queue");
  return queues;
}

export function parseConcurrency(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw invalid("concurrency", `must be a positive integer (got ${String(value)})`);
  return n;
}

export const CONCURRENCY: Flag = {
  type: "string",
  value: "N",
  help: "how many tasks run at once in this process",
  default: "10",
};

export const QUIET: Flag = { type: "boolean", help: "no line per task outcome" };

export const workerCommand: Command = {
  name: "worker",
  summary: "run tasks from the queues until SIGTERM/SIGINT",
  usage: "[options]",
  flags: {
    queues: {
      type: "string",
      value: "LIST",
      help: "the queues to take from, comma-separated, in priority order",
      default: "the config's queues, else high, default and the tasks' own",
    },
    concurrency: CONCURRENCY,
    "with-scheduler": {
      type: "boolean",
      help: "also fire the recurring schedules from this process (one process holds the scheduler at a time)",
    },
    quiet: QUIET,
  },
  notes: [
    "Run as many workers as you like on one ledger. SIGTERM or SIGINT stops taking tasks and gives",
    "running ones the config's shutdownGraceMs (default 10 s) to finish; a second signal exits at once.",
  ],
  async run({ flags, out, open }) {
    const queues = parseQueues(flags.queues);
    const concurrency = parseConcurrency(flags.concurrency);
    const { tl, loaded } = await open({ create: true });
    const service = await startWorker(
      tl,
      { queues, concurrency, withScheduler: Boolean(flags["with-scheduler"]) },
      out,
      Boolean(flags.quiet),
    );
    const { worker } = service;
    // Listen before the banner: whoever sends a signal on seeing it gets a graceful stop.
    const stopped = untilSignal(out, [service], { graceMs: tl.settings.shutdownGraceMs });
    if (out.json) {
      out.data({
        worker: worker.id,
        queues: worker.queues,
        concurrency: worker.concurrency,
        pid: process.pid,
      });
    } else {
      // One write: whoever watches for the banner gets all of it at once.
      out.line(
        [
          `${color.bold("taskledger worker")} ${worker.id} — queues ${worker.queues.join(", ")}, concurrency ${worker.concurrency}`,
          `config ${loaded.path}`,
        ].join("\n"),
      );
    }
    return stopped;
  },
};
