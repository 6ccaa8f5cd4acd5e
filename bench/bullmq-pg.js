// BullMQ on its PostgreSQL backend: the raw baseline and taskledger's bullmq engine on it (the
// ledger in the same database), measured in the same run on the same server —
// TASKLEDGER_BENCH_POSTGRES_URL, or a private PostgreSQL 15 with production durability
// (bench/services.js: fsync on), stopped by PID at the end. Skipped, with the reason printed, when
// neither is available. bench/bullmq-servers.js runs the same two measurements beside the Redis
// engine's; `rawPg` and `trackedPg` are shared with it.
//
// Metrics: bullmq.pg.raw.jobs_per_s (raw BullMQ, `withBackend(createPostgresBackend)`, one worker
// process at concurrency 10, no-op jobs, completed jobs kept as BullMQ's default does),
// bullmq.pg.tracked.tasks_per_s (the bullmq engine with the ledger in the same database:
// enqueueMany, then one worker process at concurrency 10, every task recorded), with how full the
// worker's takes were (deliveries taken per take, of the free slots it asked for) beside it.
import { pathToFileURL } from "node:url";
import { createTaskledger } from "../dist/index.js";
import { addBulkAndDrain, emit, round, say, startWorkerChild } from "./lib.js";
import { dropDatabases, freshDatabase, startService, stopAll } from "./services.js";
import { benchTasks, enqueueNoops } from "./tasks.js";

const JOBS = Number(process.env.TL_BENCH_PG_JOBS ?? 20_000);
const TRACKED = Number(process.env.TL_BENCH_PG_TASKS ?? 20_000);
const BATCH = 1_000;
/** bullmq.pg.tracked.tasks_per_s ≥ this × bullmq.pg.raw.jobs_per_s (issue 13). */
const TARGET_OF_RAW = 0.5;

/** Raw BullMQ on its PostgreSQL backend in the fresh database `url`: addBulk JOBS no-op jobs, drain them with one worker at concurrency 10; jobs/s. */
export async function rawPg(url, version) {
  const bullmq = await import("bullmq");
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  await bullmq.runMigrations(client, "bullmq");
  client.release();
  await pool.end();
  const { Queue, Worker } = bullmq.withBackend(bullmq.createPostgresBackend);
  const { addSeconds, seconds, completed } = await addBulkAndDrain({ Queue, Worker }, url, JOBS, BATCH);
  say(`bullmq-pg raw: ${JOBS} jobs added in ${round(addSeconds * 1000, 0)} ms`);
  say(`bullmq-pg raw: ${JOBS} jobs in ${round(seconds * 1000, 0)} ms (${completed} kept as completed)`);
  const perSecond = JOBS / seconds;
  emit("bullmq.pg.raw.jobs_per_s", perSecond, "jobs/s", {
    jobs: JOBS,
    concurrency: 10,
    completed,
    postgres: version,
  });
  return perSecond;
}

/** The bullmq engine on the PostgreSQL backend, ledger in the fresh database `url`: queue TRACKED tasks, drain them with one worker process; tasks/s. */
export async function trackedPg(url, rawPerSecond, version) {
  const { default: pg } = await import("pg");
  const tl = createTaskledger({ database: url, engine: "bullmq", tasks: benchTasks });
  await tl.migrate();
  const started = performance.now();
  await enqueueNoops(tl, TRACKED);
  say(
    `bullmq-pg engine: ${TRACKED} tasks enqueued (ledger + jobs, one transaction a batch) in ${round(performance.now() - started, 0)} ms`,
  );
  await tl.close();

  const worker = startWorkerChild({
    TL_DATABASE: url,
    TL_CONCURRENCY: 10,
    TL_DRAIN: TRACKED,
    TASKLEDGER_ENGINE: "bullmq",
  });
  const event = await worker.next((e) => e.event === "drained", 600_000);
  await worker.stop();
  const { rounds, asked, taken } = event.takes;

  const check = new pg.Client({ connectionString: url });
  await check.connect();
  const { rows } = await check.query(
    "select status, count(*)::int as n from tasks group by status order by status",
  );
  const jobsLeft = Number((await check.query("select count(*) from bullmq.job")).rows[0].count);
  await check.end();
  const finished = rows.find((r) => r.status === "finished")?.n ?? 0;
  if (finished !== TRACKED || rows.length !== 1 || jobsLeft !== 0) {
    say(
      `bullmq-pg engine: NOT fully recorded: ${JSON.stringify(rows)}, ${jobsLeft} job(s) left in bullmq.job`,
    );
    process.exitCode = 1;
  }
  const perSecond = TRACKED / (event.ms / 1000);
  const ofRaw = perSecond / rawPerSecond;
  say(
    `bullmq-pg engine worker: ${TRACKED} tasks in ${round(event.ms, 0)} ms = ${round(perSecond, 0)} tasks/s ` +
      `(${round(ofRaw, 2)} × raw, target ≥ ${TARGET_OF_RAW}; ${rounds} takes, ${round(taken / rounds, 2)} of ${round(asked / rounds, 2)} free slots filled a take)`,
  );
  emit("bullmq.pg.tracked.tasks_per_s", perSecond, "tasks/s", {
    tasks: TRACKED,
    concurrency: 10,
    recorded: finished === TRACKED,
    of_raw: round(ofRaw),
    target: `≥ ${TARGET_OF_RAW} × bullmq.pg.raw.jobs_per_s`,
    within_target: ofRaw >= TARGET_OF_RAW,
    takes: rounds,
    taken_per_take: round(taken / rounds),
    free_per_take: round(asked / rounds),
    start_ms: round(event.readyMs, 0),
    cpu_ms: round(event.cpuMs, 0),
    postgres: version,
  });
  return perSecond;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const skip = (reason) => {
    say(`bullmq-pg: skipped — ${reason}`);
    emit("bullmq.pg.raw.jobs_per_s", null, "jobs/s", { skipped: reason });
    emit("bullmq.pg.tracked.tasks_per_s", null, "tasks/s", { skipped: reason });
    process.exit(0);
  };
  try {
    await import("bullmq");
    await import("pg");
  } catch (error) {
    skip(`bullmq or pg is not installed (${error.message})`);
  }
  try {
    const server = await startService("postgres");
    if (server.skipped) skip(server.skipped);
    say(`bullmq-pg: ${server.version}, durability: ${server.durability}`);
    const rawPerSecond = await rawPg(await freshDatabase(server), server.version);
    await trackedPg(await freshDatabase(server), rawPerSecond, server.version);
  } finally {
    await dropDatabases();
    await stopAll();
  }
  process.exit(process.exitCode ?? 0);
}
