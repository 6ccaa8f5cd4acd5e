// BullMQ on Redis: the raw baseline and taskledger's bullmq engine, measured in the same run on
// the same Redis — TASKLEDGER_BENCH_REDIS_URL, or a private redis-server on a free loopback port
// (no persistence, noeviction), stopped by PID at the end. Skipped, with the reason printed, when
// neither is available.
//
// Metrics: bullmq.enqueue.jobs_per_s, bullmq.add_bulk.jobs_per_s, bullmq.redis.raw.jobs_per_s
// (raw BullMQ, one worker process, concurrency 10, no-op jobs; also emitted under its earlier name
// bullmq.process.jobs_per_s), bullmq.redis.tracked_sqlite.tasks_per_s (the bullmq engine with the
// ledger on SQLite: enqueueMany, then one worker process at concurrency 10, every task recorded),
// bullmq.redis.relay.deliveries_per_s (the relay handing every waiting row again while Redis holds
// their jobs: what each worker's sweep costs per waiting task).
import { createTaskledger } from "../dist/index.js";
import { runtimeOf } from "../dist/internals.js";
import { relay } from "../dist/maintenance/relay.js";
import { addBulkAndDrain, assertRecorded, emit, round, say, startWorkerChild, tempDatabase } from "./lib.js";
import { startService, stopAll } from "./services.js";
import { benchTasks, enqueueNoops } from "./tasks.js";

const JOBS = Number(process.env.TL_BENCH_TASKS ?? 100_000);
const TRACKED = Math.min(JOBS, 30_000);
const ONE_BY_ONE = Number(process.env.TL_BENCH_ENQUEUE ?? 50_000);
const BATCH = 1_000;

const skip = (reason) => {
  say(`bullmq: skipped — ${reason}`);
  emit("bullmq.redis.raw.jobs_per_s", null, "jobs/s", { skipped: reason });
  process.exit(0);
};

let Queue;
let Worker;
try {
  ({ Queue, Worker } = await import("bullmq"));
} catch (error) {
  skip(`the bullmq package is not installed (${error.message})`);
}

/** The bench's Redis: the one given, or a private redis-server (bench/services.js, stopped by PID). */
const redis = await startService("redis");
if (redis.skipped) skip(redis.skipped);
const { hostname: host, port: redisPort } = new URL(redis.url);
const port = Number(redisPort || 6379);
const { version, url: redisUrl } = redis;
say(`bullmq: ${version} on ${host}:${port}`);

const connection = { host, port, maxRetriesPerRequest: null };

async function addOneByOne() {
  const queue = new Queue("bench-add", { connection });
  for (let i = 0; i < 1_000; i++) await queue.add("noop", { n: i }); // warm-up
  const started = performance.now();
  for (let i = 0; i < ONE_BY_ONE; i++) await queue.add("noop", { n: i });
  const seconds = (performance.now() - started) / 1000;
  await queue.obliterate({ force: true });
  await queue.close();
  emit("bullmq.enqueue.jobs_per_s", ONE_BY_ONE / seconds, "jobs/s", { jobs: ONE_BY_ONE });
}

async function addBulkAndProcess() {
  const { addSeconds, seconds, completed } = await addBulkAndDrain(
    { Queue, Worker },
    connection,
    JOBS,
    BATCH,
  );
  emit("bullmq.add_bulk.jobs_per_s", JOBS / addSeconds, "jobs/s", { jobs: JOBS, batch: BATCH });
  say(`bullmq: ${JOBS} jobs in ${round(seconds * 1000, 0)} ms (${completed} kept as completed)`);
  const figures = { jobs: JOBS, concurrency: 10, completed, redis: version };
  emit("bullmq.redis.raw.jobs_per_s", JOBS / seconds, "jobs/s", figures);
  emit("bullmq.process.jobs_per_s", JOBS / seconds, "jobs/s", figures);
}

/** The bullmq engine, ledger on SQLite: queue TRACKED tasks, then drain them with one worker process. */
async function tracked() {
  const { url, file } = tempDatabase();
  const tl = createTaskledger({ database: url, redis: redisUrl, tasks: benchTasks });
  await tl.migrate();
  let started = performance.now();
  await enqueueNoops(tl, TRACKED);
  const enqueueSeconds = (performance.now() - started) / 1000;
  say(`bullmq engine: ${TRACKED} tasks enqueued (ledger + Redis) in ${round(enqueueSeconds * 1000, 0)} ms`);
  emit("bullmq.redis.tracked_sqlite.enqueue_many.tasks_per_s", TRACKED / enqueueSeconds, "tasks/s", {
    tasks: TRACKED,
    batch: 5_000,
  });
  // Every waiting row handed again while Redis holds its job: what each worker's sweep costs.
  started = performance.now();
  const relayed = await relay(runtimeOf(tl));
  const relaySeconds = (performance.now() - started) / 1000;
  say(
    `bullmq engine: the relay handed ${relayed} waiting tasks again in ${round(relaySeconds * 1000, 0)} ms`,
  );
  emit("bullmq.redis.relay.deliveries_per_s", relayed / relaySeconds, "deliveries/s", { waiting: relayed });
  await tl.close();

  const worker = startWorkerChild({
    TL_DATABASE: url,
    TL_CONCURRENCY: 10,
    TL_DRAIN: TRACKED,
    TASKLEDGER_REDIS_URL: redisUrl,
  });
  for (;;) {
    const event = await worker.next((e) => e.event === "drained");
    await worker.stop();
    const recorded = assertRecorded(file, TRACKED, "bullmq.redis.tracked_sqlite");
    const perSecond = TRACKED / (event.ms / 1000);
    say(
      `bullmq engine worker: ${TRACKED} tasks in ${round(event.ms, 0)} ms = ${round(perSecond, 0)} tasks/s`,
    );
    emit("bullmq.redis.tracked_sqlite.tasks_per_s", perSecond, "tasks/s", {
      tasks: TRACKED,
      concurrency: 10,
      recorded,
      cpu_ms: round(event.cpuMs, 0),
      redis: version,
    });
    return;
  }
}

try {
  await addOneByOne();
  await addBulkAndProcess();
  await tracked();
} finally {
  await stopAll();
}
process.exit(process.exitCode ?? 0);
