// A worker process for the cross-process benchmarks. Prints one JSON event per line on stdout:
// `ready` once claiming, `started` / `aborted` from the bench tasks, and in drain mode `rss`
// samples and `drained` once TL_DRAIN tasks are all recorded as finished.
//
// Environment: TL_DATABASE (sqlite:FILE, postgres://… or mysql://…), TL_CONCURRENCY (default 10), TL_DRAIN (a task count),
// TL_RSS_EVERY (sample RSS every N handler runs in drain mode), TL_ENGINE=memory and TL_ENQUEUE=N (the
// queue in this process, N no-op tasks enqueued before the worker starts).
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { runtimeOf } from "../dist/internals.js";
import { rssMb, sleep, wallNow } from "./lib.js";
import { benchTasks, counters, enqueueNoops, probe } from "./tasks.js";

const send = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
probe.on("started", (e) => send({ event: "started", ...e }));
probe.on("aborted", (e) => send({ event: "aborted", ...e }));

const database = process.env.TL_DATABASE;
const drain = Number(process.env.TL_DRAIN ?? 0);
const rssEvery = Number(process.env.TL_RSS_EVERY ?? 0);
// TL_ENGINE=memory with TL_ENQUEUE=N: the queue in this process (no broker), filled here first.
const inProcess = process.env.TL_ENGINE === "memory";
const tl = createTaskledger({ database, tasks: benchTasks, ...(inProcess ? { engine: "memory" } : {}) });
await tl.migrate();
if (inProcess) await enqueueNoops(tl, Number(process.env.TL_ENQUEUE ?? 0));
const worker = tl.createWorker({ concurrency: Number(process.env.TL_CONCURRENCY ?? 10) });

/**
 * How full the worker's rounds are: every take, what it asked for (free slots) and what it got
 * (`short`: takes that got less);
 * and where a drain's time goes: inside the takes (`takeMs`), inside write transactions
 * (`writeMs`, `writes`: rounds, and any other write of this process).
 */
const takes = { rounds: 0, asked: 0, taken: 0, short: 0, takeMs: 0, writes: 0, writeMs: 0 };
const rt = runtimeOf(tl);
const engine = rt.engine;
const take = engine.take.bind(engine);
engine.take = async (request, tx) => {
  const t0 = performance.now();
  const taken = await take(request, tx);
  takes.takeMs += performance.now() - t0;
  takes.rounds++;
  takes.asked += request.limit;
  takes.taken += taken.length;
  // A take that got less than it asked for: the worker then waits to be woken (or polls).
  if (taken.length < request.limit) takes.short++;
  return taken;
};
const write = rt.write.bind(rt);
rt.write = async (fn) => {
  const t0 = performance.now();
  try {
    return await write(fn);
  } finally {
    takes.writes++;
    takes.writeMs += performance.now() - t0;
  }
};

const stop = async () => {
  send({ event: "takes", takes });
  await worker.stop({ graceMs: 1_000 });
  await tl.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

const started = performance.now();
const cpuBefore = process.cpuUsage();
await worker.start();
/** Start-up (the worker's first sweep and relay) is part of a drain's time; this says how much. */
const readyMs = performance.now() - started;
send({ event: "ready", at: wallNow(), ms: readyMs });

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
    readyMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    tasks: drain,
    runs: counters.runs,
    takes,
  });
}

/** Counts the ledger's finished tasks: a read-only SQLite handle, or one PostgreSQL or MySQL connection. */
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
  if (/^(mysql|mariadb):/.test(url)) {
    const mysql = await import("mysql2/promise");
    const connection = await mysql.createConnection({ uri: url.replace(/^mariadb:/, "mysql:") });
    return {
      count: async () => Number((await connection.query(statement))[0][0].n),
      pollMs: 5,
      close: () => connection.end(),
    };
  }
  const reader = new BetterSqlite3(url.replace(/^sqlite:/, ""), { readonly: true });
  const finished = reader.prepare(statement).pluck();
  return { count: async () => finished.get(), pollMs: 1, close: async () => reader.close() };
}
