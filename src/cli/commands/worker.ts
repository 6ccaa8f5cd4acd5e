import { invalid } from "../../core/errors.js";
import type { Command } from "../command.js";
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

export const workerCommand: Command = {
  name: "worker",
  summary: "run tasks from the queues until SIGTERM/SIGINT",
  usage: [
    "Usage: taskledger worker [--queues high,default] [--concurrency N] [--with-scheduler] [--quiet]",
    "",
    "  --queues LIST       queues to take from, in priority order",
    "  --concurrency N     tasks run at once (default 10)",
    "  --with-scheduler    also fire recurring schedules from this process",
    "  --quiet             no line per task",
  ].join("\n"),
  options: {
    queues: { type: "string" },
    concurrency: { type: "string" },
    "with-scheduler": { type: "boolean" },
    quiet: { type: "boolean" },
  },
  async run({ flags, out, open }) {
    const queues = parseQueues(flags.queues);
    const concurrency = parseConcurrency(flags.concurrency);
    const { tl, loaded } = await open();
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
          `ledger ${tl.ledger.location} · config ${loaded.path}`,
        ].join("\n"),
      );
    }
    return stopped;
  },
};
