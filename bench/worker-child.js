// A worker process for the cross-process benchmarks. Prints one JSON event per line on stdout:
// `ready` once claiming, `started` / `aborted` from the bench tasks, and in drain mode `rss`
// samples and `drained` once TL_DRAIN tasks are all recorded as finished.
//
// Environment: TL_DATABASE (sqlite:FILE or postgres://…), TL_CONCURRENCY (default 10), TL_DRAIN (a task count),
// TL_RSS_EVERY (sample RSS every N handler runs in drain mode).
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { runtimeOf } from "../dist/internals.js";
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

/** How full the worker's rounds are: every take, what it asked for (free slots) and what it got. */
const takes = { rounds: 0, asked: 0, taken: 0 };
const engine = runtimeOf(tl).engine;
const take = engine.take.bind(engine);
engine.take = async (request, tx) => {
  const taken = await take(request, tx);
  takes.rounds++;
  takes.asked += request.limit;
  takes.taken += taken.length;
  return taken;
};

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
  const reader = await finishedCounter(database);
  while ((await reader.count()) < drain) await sleep(reader.pollMs);
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await reader.close();
  send({
    event: "drained",
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    tasks: drain,
    runs: counters.runs,
    takes,
  });
}

/** Counts the ledger's finished tasks: a read-only SQLite handle, or one PostgreSQL connection. */
async function finishedCounter(url) {
  const statement = "select count(*) as n from tasks where status = 'finished'";
  if (/^postgres(ql)?:/.test(url)) {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return {
      count: async () => Number((await client.query(statement)).rows[0].n),
      pollMs: 5, // a query a poll: lighter on the server that is being measured
      close: () => client.end(),
    };
  }
  const reader = new BetterSqlite3(url.replace(/^sqlite:/, ""), { readonly: true });
  const finished = reader.prepare(statement).pluck();
  return { count: async () => finished.get(), pollMs: 1, close: async () => reader.close() };
}
