// The raw-BullMQ baseline, measured in the same run: a private redis-server on a free loopback
// port (no persistence), the same no-op work at concurrency 10. Skipped, with the reason
// printed, when no redis-server binary is installed.
//
// Metrics: bullmq.process.jobs_per_s, bullmq.enqueue.jobs_per_s, bullmq.add_bulk.jobs_per_s.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { emit, round, say, tempDatabase, until } from "./lib.js";

const JOBS = Number(process.env.TL_BENCH_TASKS ?? 100_000);
const ONE_BY_ONE = Number(process.env.TL_BENCH_ENQUEUE ?? 50_000);
const BATCH = 1_000;

const which = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
const redisBinary = which.stdout.trim();
if (which.status !== 0 || redisBinary === "") {
  say("bullmq: skipped — no redis-server binary installed (apt-get install -y redis-server)");
  emit("bullmq.process.jobs_per_s", null, "jobs/s", { skipped: "no redis-server binary installed" });
  process.exit(0);
}

let Queue;
let Worker;
try {
  ({ Queue, Worker } = await import("bullmq"));
} catch (error) {
  say(`bullmq: skipped — the bullmq package is not installed (${error.message})`);
  emit("bullmq.process.jobs_per_s", null, "jobs/s", { skipped: "bullmq package not installed" });
  process.exit(0);
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

const port = await freePort();
const { dir } = tempDatabase("tl-redis-");
const redis = spawn(
  redisBinary,
  [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
  ],
  { stdio: ["ignore", "pipe", "pipe"] },
);
let redisLog = "";
redis.stdout.on("data", (chunk) => {
  redisLog += chunk;
});
const stopRedis = () => {
  if (redis.exitCode === null && redis.signalCode === null) redis.kill("SIGTERM");
};
process.on("exit", stopRedis);
await until(() => redisLog.includes("Ready to accept connections"), {
  timeoutMs: 10_000,
  intervalMs: 10,
  message: "redis-server",
});
const version = spawnSync(redisBinary, ["--version"], { encoding: "utf8" }).stdout.trim();
say(`bullmq: ${version} on 127.0.0.1:${port}`);

const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };

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
  emit("bullmq.process.jobs_per_s", JOBS / seconds, "jobs/s", {
    jobs: JOBS,
    concurrency: 10,
    completed,
    redis: version,
  });
}

try {
  await addOneByOne();
  await addBulkAndProcess();
} finally {
  stopRedis();
}
