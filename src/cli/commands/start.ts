import type { Command } from "../command.js";
import { color } from "../output.js";
import { type Service, startWorker, untilSignal } from "../serve.js";
import { startWeb, WEB_FLAGS } from "./web.js";
import { CONCURRENCY, parseConcurrency, QUIET } from "./worker.js";

/** The embedded default in one process: worker + scheduler + web (when the config has one). */
export const startCommand: Command = {
  name: "start",
  summary: "run everything in one process on the embedded default (web + worker + scheduler)",
  usage: "[options]",
  flags: { concurrency: CONCURRENCY, quiet: QUIET, ...WEB_FLAGS },
  notes: [
    "Runs a worker with the scheduler on the ledger, and the config's web app, until SIGTERM/SIGINT.",
    "Without a config of your own it runs the bundled example (the mailer demo).",
  ],
  async run({ flags, out, open }) {
    const concurrency = parseConcurrency(flags.concurrency);
    const { tl, loaded } = await open({ create: true });
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
    if (out.json) {
      out.data({
        database: tl.ledger.location,
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
