// A worker process for the cross-process benchmarks. Prints one JSON event per line on stdout:
// `ready` once claiming, `started` / `aborted` from the bench tasks, and in drain mode `rss`
// samples and `drained` once TL_DRAIN tasks are all recorded as finished.
//
// Environment: TL_DATABASE (sqlite:FILE), TL_CONCURRENCY (default 10), TL_DRAIN (a task count),
// TL_RSS_EVERY (sample RSS every N handler runs in drain mode).
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { rssMb, sleep, wallNow } from "./lib.js";
import { benchTasks, counters, probe } from "./tasks.js";

const send = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
probe.on("started", (e) => send({ event: "started", ...e }));
probe.on("aborted", (e) => send({ event: "aborted", ...e }));

const database = process.env.TL_DATABASE;
const drain = Number(process.env.TL_DRAIN ?? 0);
const rssEvery = Number(process.env.TL_RSS_EVERY ?? 0);
const tl = createTaskledger({ database, tasks: benchTasks });
await tl.migrate();
const worker = tl.createWorker({ concurrency: Number(process.env.TL_CONCURRENCY ?? 10) });

const stop = async () => {
  await worker.stop({ graceMs: 1_000 });
  await tl.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

const started = performance.now();
const cpuBefore = process.cpuUsage();
await worker.start();
send({ event: "ready", at: wallNow() });

if (drain > 0) {
  const sample = () =>
    send({
      event: "rss",
      runs: counters.runs,
      mb: rssMb(),
      heapMb: process.memoryUsage().heapUsed / 2 ** 20,
    });
  let nextSample = rssEvery;
  while (counters.runs < drain) {
    if (rssEvery > 0 && counters.runs >= nextSample) {
      sample();
      nextSample += rssEvery;
    }
    await sleep(2);
  }
  // The last sample is the worker's own, before this benchmark opens a connection of its own.
  sample();
  // Every handler has run; the run is over once every outcome is committed.
  const file = database.replace(/^sqlite:/, "");
  const reader = new BetterSqlite3(file, { readonly: true });
  const finished = reader.prepare("select count(*) from tasks where status = 'finished'").pluck();
  while (finished.get() < drain) await sleep(1);
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  reader.close();
  send({ event: "drained", ms, cpuMs: (cpu.user + cpu.system) / 1000, tasks: drain, runs: counters.runs });
}
