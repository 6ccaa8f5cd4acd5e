import type { Command } from "../command.js";
import { color, formatTime, table } from "../output.js";

const formatIso = (date: Date | null) => (date ? date.toISOString() : null);

export const statusCommand: Command = {
  name: "status",
  summary: "queue counts, live workers, queues no worker serves, and the active scheduler",
  usage: "Usage: taskledger status [--json]",
  options: {},
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
    out.line(`${color.bold("ledger")} ${tl.ledger.location}`);
    out.line("");
    if (report.counts.length === 0) out.line("No tasks yet.");
    else
      out.line(
        table(
          ["QUEUE", "STATUS", "COUNT"],
          report.counts.map((c) => [c.queue, c.status, String(c.count)]),
        ),
      );
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
