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
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { createTaskledger } from "../dist/index.js";
import { runtimeOf } from "../dist/internals.js";
import { relay } from "../dist/maintenance/relay.js";
import { assertRecorded, emit, round, say, startWorkerChild, tempDatabase, until } from "./lib.js";
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

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The bench's Redis: the one given, or a private redis-server (stopped by PID on exit). */
async function startRedis() {
  if (process.env.TASKLEDGER_BENCH_REDIS_URL) {
    const given = new URL(process.env.TASKLEDGER_BENCH_REDIS_URL);
    return { host: given.hostname, port: Number(given.port || 6379), version: "given", url: given.href };
  }
  const which = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const redisBinary = which.stdout.trim();
  if (which.status !== 0 || redisBinary === "")
    skip(
      "no redis-server binary installed (apt-get install -y redis-server), and TASKLEDGER_BENCH_REDIS_URL is unset",
    );
  const port = await freePort();
  const { dir } = tempDatabase("tl-redis-");
  const redis = spawn(
    redisBinary,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].concat([
      "--maxmemory-policy",
      "noeviction",
      "--dir",
      dir,
      "--daemonize",
      "no",
    ]),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let redisLog = "";
  redis.stdout.on("data", (chunk) => {
    redisLog += chunk;
  });
  process.on("exit", () => {
    if (redis.exitCode === null && redis.signalCode === null) redis.kill("SIGTERM");
  });
  await until(() => redisLog.includes("Ready to accept connections"), {
    timeoutMs: 10_000,
    intervalMs: 10,
    message: "redis-server",
  });
  const version = spawnSync(redisBinary, ["--version"], { encoding: "utf8" }).stdout.trim();
  return { host: "127.0.0.1", port, version, url: `redis://127.0.0.1:${port}` };
}

const { host, port, version, url: redisUrl } = await startRedis();
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
  const queue = new Queue("bench-process", { connection });
  const started = performance.now();
  for (let i = 0; i < JOBS; i += BATCH) {
    await queue.addBulk(
      Array.from({ length: Math.min(BATCH, JOBS - i) }, (_, j) => ({ name: "noop", data: { n: i + j } })),
    );
  }
  const addSeconds = (performance.now() - started) / 1000;
  emit("bullmq.add_bulk.jobs_per_s", JOBS / addSeconds, "jobs/s", { jobs: JOBS, batch: BATCH });

  let done = 0;
  let finish;
  const all = new Promise((resolve) => {
    finish = resolve;
  });
  const t0 = performance.now();
  // Completed jobs are kept (BullMQ's default), as the ledger keeps every task's record.
  const worker = new Worker("bench-process", async () => true, { connection, concurrency: 10 });
  worker.on("completed", () => {
    if (++done === JOBS) finish();
  });
  await all;
  const seconds = (performance.now() - t0) / 1000;
  await worker.close();
  const completed = await queue.getCompletedCount();
  await queue.close();
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

await addOneByOne();
await addBulkAndProcess();
await tracked();
process.exit(process.exitCode ?? 0);
