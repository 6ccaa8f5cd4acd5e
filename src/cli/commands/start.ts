import type { Command } from "../command.js";
import { color } from "../output.js";
import { type Service, startWorker, untilSignal } from "../serve.js";
import { startWeb, WEB_OPTIONS } from "./web.js";
import { parseConcurrency } from "./worker.js";

/** The embedded default in one process: worker + scheduler + web (when the config has one). */
export const startCommand: Command = {
  name: "start",
  summary: "run everything in one process on the embedded default (web + worker + scheduler)",
  usage: [
    "Usage: taskledger start [--config FILE] [--database URL] [--concurrency N] [--port N] [--host ADDRESS] [--quiet]",
    "",
    "Runs a worker with the scheduler on the ledger (default sqlite:taskledger.db), and the config's",
    "web app on http://127.0.0.1:3000 (--port, $PORT), until SIGTERM/SIGINT.",
    "Without a config of your own it runs the bundled example (the mailer demo).",
  ].join("\n"),
  options: {
    concurrency: { type: "string" },
    quiet: { type: "boolean" },
    ...WEB_OPTIONS,
  },
  async run({ flags, out, open }) {
    const concurrency = parseConcurrency(flags.concurrency);
    const { tl, loaded } = await open();
    const services: Service[] = [];
    // The web app listens first, so that the first runs (a schedule due at once) can reach it.
    const web = await startWeb(tl, loaded, flags);
    if (web) services.push(web);
    const worker = await startWorker(
      tl,
      { concurrency, withScheduler: true },
      out,
      Boolean(flags.quiet),
    ).catch(async (error) => {
      await web?.stop();
      throw error;
    });
    services.push(worker); // stopped first (reverse order): its running tasks finish while the web is still up
    // Listen before the banner: whoever sends a signal on seeing it gets a graceful stop.
    const stopped = untilSignal(out, services, { graceMs: tl.settings.shutdownGraceMs });
    const where = tl.ledger.location;
    if (out.json) {
      out.data({
        database: where,
        config: loaded.path,
        worker: worker.worker.id,
        tasks: tl.registry.names(),
        url: web?.url ?? null,
      });
    } else {
      // One write: whoever watches for the banner gets all of it at once.
      out.line(
        [
          color.bold("taskledger is running (embedded: one SQLite file, no other service)"),
          `  ledger   ${where}`,
          `  config   ${loaded.path}${loaded.isExample ? " (the bundled example)" : ""}`,
          `  tasks    ${tl.registry.names().join(", ")}`,
          `  worker   ${worker.worker.id} · queues ${worker.worker.queues.join(", ")}`,
          `  web      ${web ? color.green(web.url) : "not configured (add a web key to the config)"}`,
          "",
          ...(web ? [`Open ${web.url} in a browser and log in with any name.`] : []),
          "From another terminal:",
          `  npx taskledger enqueue count_words --description "count words" --payload '"to be or not to be"' --wait`,
          "  npx taskledger tasks list",
          "",
        ].join("\n"),
      );
    }
    return stopped;
  },
};
