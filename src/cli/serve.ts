import type { Notification } from "../core/types.js";
import type { Taskledger } from "../taskledger.js";
import type { Worker, WorkerOptions } from "../worker/worker.js";
import { color, type Output } from "./output.js";

export interface Service {
  readonly name: string;
  stop(): Promise<void>;
}

/** Start a worker and print one line per task outcome (unless quiet or --json). */
export async function startWorker(
  tl: Taskledger,
  options: WorkerOptions,
  out: Output,
  quiet: boolean,
): Promise<Service & { readonly worker: Worker }> {
  const worker = tl.createWorker(options);
  let unsubscribe = () => {};
  if (!quiet && !out.json) {
    unsubscribe = tl.notifications.subscribe((n: Notification) => {
      const line = describeNotification(n);
      if (line) out.line(`${color.dim(new Date().toISOString())} ${line}`);
    });
  }
  await worker.start();
  return {
    name: "worker",
    worker,
    async stop() {
      await worker.stop();
      unsubscribe();
    },
  };
}

function describeNotification(n: Notification): string | undefined {
  const d = n.data as Record<string, unknown>;
  const id = `#${n.taskId}`;
  switch (n.name) {
    case "task_finished":
      return `${id} ${d.name} ${color.green("finished")}`;
    case "task_failed":
      return `${id} ${d.name} ${color.red("failed")}`;
    case "task_canceled":
      return `${id} ${d.name ?? ""} ${color.yellow("canceled")}`;
    case "task_retry":
      return `${id} ${color.yellow("will retry")} at ${d.retryAt}`;
    case "task_progress":
      return d.progress === 0 ? `${id} ${color.blue("running")}` : undefined;
    default:
      return undefined;
  }
}

/** After the grace period, how long stopping may take before the process exits regardless. */
export const EXIT_MARGIN_MS = 2_000;

/**
 * Run until SIGTERM or SIGINT, then stop the services in reverse order: the worker stops
 * claiming, lets running tasks finish within its grace period, then aborts and requeues them.
 * A second signal exits at once. The process then exits whatever handlers left behind (a timer,
 * a socket, a loop that ignores its signal): at the latest `graceMs` + 2 s after the signal.
 */
export function untilSignal(
  out: Output,
  services: readonly Service[],
  { graceMs = 0 }: { graceMs?: number } = {},
): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    let stopped = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        out.error(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      if (!out.json)
        out.line(
          `${signal}: shutting down (running tasks get their grace period; ${signal} again to force)…`,
        );
      // Unref'd: it fires only if something else still keeps the process alive.
      setTimeout(() => {
        if (!stopped) out.error(`still stopping ${graceMs + EXIT_MARGIN_MS} ms after ${signal}: exiting now`);
        process.exit(stopped ? 0 : 1);
      }, graceMs + EXIT_MARGIN_MS).unref();
      void (async () => {
        for (const service of [...services].reverse()) {
          try {
            await service.stop();
          } catch (error) {
            out.error(`stopping ${service.name}: ${(error as Error).message}`);
          }
        }
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        if (!out.json) out.line("Stopped.");
        stopped = true;
        // A handler that ignored its abort may still hold a timer or a socket: do not wait for it.
        setTimeout(() => process.exit(0), 500).unref();
        resolve(0);
      })();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
