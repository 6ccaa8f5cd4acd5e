// BullMQ on its PostgreSQL backend: the raw baseline and taskledger's bullmq engine on it (the
// ledger in the same database), measured in the same run on the same server —
// TASKLEDGER_BENCH_POSTGRES_URL (a server; a database is created on it and dropped), or a private
// PostgreSQL 15 (initdb in a temp folder, loopback, fsync on, run as the `postgres` user when this
// runs as root), stopped by PID at the end. Skipped, with the reason printed, when neither is
// available.
//
// Metrics: bullmq.pg.raw.jobs_per_s (raw BullMQ, `withBackend(createPostgresBackend)`, one worker
// process at concurrency 10, no-op jobs, completed jobs kept as BullMQ's default does),
// bullmq.pg.tracked.tasks_per_s (the bullmq engine with the ledger in the same database:
// enqueueMany, then one worker process at concurrency 10, every task recorded), with how full the
// worker's takes were (deliveries taken per take, of the free slots it asked for) beside it.
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createTaskledger } from "../dist/index.js";
import { emit, round, say, sleep, startWorkerChild, tempDatabase, until } from "./lib.js";
import { benchTasks, enqueueNoops } from "./tasks.js";

const JOBS = Number(process.env.TL_BENCH_PG_JOBS ?? 20_000);
const TRACKED = Number(process.env.TL_BENCH_PG_TASKS ?? 20_000);
const BATCH = 1_000;
const PG_BIN = "/usr/lib/postgresql/15/bin";

const skip = (reason) => {
  say(`bullmq-pg: skipped — ${reason}`);
  emit("bullmq.pg.raw.jobs_per_s", null, "jobs/s", { skipped: reason });
  emit("bullmq.pg.tracked.tasks_per_s", null, "tasks/s", { skipped: reason });
  process.exit(0);
};

let bullmq;
let pg;
try {
  bullmq = await import("bullmq");
  ({ default: pg } = await import("pg"));
} catch (error) {
  skip(`bullmq or pg is not installed (${error.message})`);
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

/** uid/gid of the `postgres` user, to run the server as when we are root (PostgreSQL refuses root). */
function postgresUser() {
  if (process.getuid?.() !== 0) return {};
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line)
    skip("running as root without a postgres user to run PostgreSQL as (apt-get install postgresql)");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** The bench's server: the one given, or a private PostgreSQL (stopped by PID on exit). */
async function startPostgres() {
  if (process.env.TASKLEDGER_BENCH_POSTGRES_URL) {
    return { url: process.env.TASKLEDGER_BENCH_POSTGRES_URL.replace(/\/[^/]*$/, ""), version: "given" };
  }
  if (!existsSync(join(PG_BIN, "initdb")))
    skip(
      `no PostgreSQL 15 (${PG_BIN}; apt-get install postgresql), and TASKLEDGER_BENCH_POSTGRES_URL is unset`,
    );
  const user = postgresUser();
  const { dir } = tempDatabase("tl-pg-");
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const init = spawnSync(
    join(PG_BIN, "initdb"),
    ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions"],
    { ...user, encoding: "utf8", cwd: dir },
  );
  if (init.status !== 0) skip(`initdb failed: ${init.stderr.trim()}`);
  const port = await freePort();
  const server = spawn(
    join(PG_BIN, "postgres"),
    ["-D", data, "-h", "127.0.0.1", "-p", String(port), "-k", dir, "-c", "max_connections=100"],
    { ...user, cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  server.stderr.on("data", (chunk) => {
    log += chunk;
  });
  process.on("exit", () => {
    if (server.exitCode === null && server.signalCode === null) server.kill("SIGINT"); // fast shutdown
  });
  await until(() => log.includes("ready to accept connections") || server.exitCode !== null, {
    timeoutMs: 30_000,
    intervalMs: 20,
    message: "postgres",
  });
  if (server.exitCode !== null) skip(`postgres exited: ${log.trim().split("\n").slice(-3).join(" ")}`);
  const version = spawnSync(join(PG_BIN, "postgres"), ["--version"], { encoding: "utf8" }).stdout.trim();
  return { url: `postgres://postgres@127.0.0.1:${port}`, version, server };
}

const { url: serverUrl, version, server } = await startPostgres();
say(`bullmq-pg: ${version} at ${serverUrl.replace(/\/\/[^@]*@/, "//")}`);

/** A new database on the server (dropped at the end). */
const created = [];
async function freshDatabase(name) {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  created.push(name);
  return `${serverUrl}/${name}`;
}

/** Raw BullMQ on its PostgreSQL backend: addBulk JOBS no-op jobs, then drain them with one worker at concurrency 10. */
async function raw() {
  const url = await freshDatabase("tl_bench_raw");
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  await bullmq.runMigrations(client, "bullmq");
  client.release();
  await pool.end();
  const { Queue, Worker } = bullmq.withBackend(bullmq.createPostgresBackend);
  const queue = new Queue("bench-process", { connection: url });
  const started = performance.now();
  for (let i = 0; i < JOBS; i += BATCH) {
    await queue.addBulk(
      Array.from({ length: Math.min(BATCH, JOBS - i) }, (_, j) => ({ name: "noop", data: { n: i + j } })),
    );
  }
  say(`bullmq-pg raw: ${JOBS} jobs added in ${round(performance.now() - started, 0)} ms`);

  let done = 0;
  let finish;
  const all = new Promise((resolve) => {
    finish = resolve;
  });
  const t0 = performance.now();
  const worker = new Worker("bench-process", async () => true, { connection: url, concurrency: 10 });
  worker.on("completed", () => {
    if (++done === JOBS) finish();
  });
  await all;
  const seconds = (performance.now() - t0) / 1000;
  await worker.close();
  const completed = await queue.getCompletedCount();
  await queue.close();
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

/** The bullmq engine on the PostgreSQL backend, ledger in the same database: queue TRACKED tasks, drain them with one worker process. */
async function tracked(rawPerSecond) {
  const url = await freshDatabase("tl_bench_tracked");
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
  say(
    `bullmq-pg engine worker: ${TRACKED} tasks in ${round(event.ms, 0)} ms = ${round(perSecond, 0)} tasks/s ` +
      `(${round(perSecond / rawPerSecond, 2)} × raw; ${rounds} takes, ${round(taken / rounds, 2)} of ${round(asked / rounds, 2)} free slots filled a take)`,
  );
  emit("bullmq.pg.tracked.tasks_per_s", perSecond, "tasks/s", {
    tasks: TRACKED,
    concurrency: 10,
    recorded: finished === TRACKED,
    of_raw: round(perSecond / rawPerSecond),
    takes: rounds,
    taken_per_take: round(taken / rounds),
    free_per_take: round(asked / rounds),
    cpu_ms: round(event.cpuMs, 0),
    postgres: version,
  });
}

try {
  const rawPerSecond = await raw();
  await tracked(rawPerSecond);
} finally {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  for (const name of created) await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
  if (server) {
    server.kill("SIGINT");
    await until(() => server.exitCode !== null || server.signalCode !== null, {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: "postgres to stop",
    }).catch(() => sleep(0));
  }
}
process.exit(process.exitCode ?? 0);
