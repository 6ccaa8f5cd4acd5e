import { DISPLAY_STATUSES } from "../../core/types.js";
import type { StatusReport } from "../../taskledger.js";
import type { Command } from "../command.js";
import { color, formatTime, STATUS_NOTES, table } from "../output.js";

/** A row per queue, a column per status as people read it. */
function countTable(counts: StatusReport["counts"]): string {
  const queues = [...new Set(counts.map((c) => c.queue))];
  const count = (queue: string, status: string) =>
    counts.find((c) => c.queue === queue && c.status === status)?.count ?? 0;
  return table(
    ["QUEUE", ...DISPLAY_STATUSES.map((s) => s.toUpperCase())],
    queues.map((q) => [q, ...DISPLAY_STATUSES.map((s) => String(count(q, s)))]),
  );
}

const formatIso = (date: Date | null) => (date ? date.toISOString() : null);

export const statusCommand: Command = {
  name: "status",
  summary: "queue counts, live workers, queues no worker serves, and the active scheduler",
  usage: "[options]",
  flags: {},
  notes: STATUS_NOTES,
  async run({ out, open }) {
    const { tl } = await open();
    const report = await tl.status();
    if (out.json) {
      out.data({
        database: tl.ledger.location,
        counts: report.counts,
        workers: report.workers.map((w) => ({
          ...w,
          startedAt: w.startedAt.toISOString(),
          lastSeenAt: w.lastSeenAt.toISOString(),
        })),
        scheduler: {
          ...report.scheduler,
          since: formatIso(report.scheduler.since),
          lastSeenAt: formatIso(report.scheduler.lastSeenAt),
          expiresAt: formatIso(report.scheduler.expiresAt),
        },
        unservedQueues: report.unservedQueues,
      });
      return;
    }
    out.line(report.counts.length === 0 ? "No tasks yet." : countTable(report.counts));
    out.line("");
    if (report.workers.length === 0) out.line("No workers running.");
    else {
      out.line(
        table(
          ["WORKER", "QUEUES", "CONCURRENCY", "STARTED", "LAST SEEN"],
          report.workers.map((w) => [
            w.id,
            w.queues.join(","),
            String(w.concurrency),
            formatTime(w.startedAt),
            formatTime(w.lastSeenAt),
          ]),
        ),
      );
    }
    if (report.unservedQueues.length > 0) out.line("");
    for (const { queue, waiting } of report.unservedQueues) {
      out.line(
        color.yellow(
          `! queue "${queue}": ${waiting} ${waiting === 1 ? "task" : "tasks"} waiting, no live worker serves it (start one with: taskledger worker --queues ${queue})`,
        ),
      );
    }
    out.line("");
    const scheduler = report.scheduler;
    if (scheduler.running) {
      out.line(
        `${color.bold("scheduler")} ${color.green("running")} · ${scheduler.holder} · since ${formatTime(scheduler.since)} · last seen ${formatTime(scheduler.lastSeenAt)}`,
      );
    } else if (scheduler.holder) {
      out.line(
        `${color.bold("scheduler")} ${color.red("dead")} · ${scheduler.holder} last seen ${formatTime(scheduler.lastSeenAt)}`,
      );
    } else {
      out.line(
        `${color.bold("scheduler")} not running (start a worker with --with-scheduler, or taskledger start)`,
      );
    }
  },
};
