// The bullmq engine on servers, beside what bounds it, all in one run on the same servers (issue
// 13): Redis, PostgreSQL 15 and MariaDB 10.11 (bench/services.js: private processes with
// production durability — PostgreSQL fsync on, InnoDB innodb_flush_log_at_trx_commit=1 — or
// given by TASKLEDGER_BENCH_*_URL), stopped by PID at the end. A part whose server is missing is
// skipped, saying why. One worker process at concurrency 10 and no-op tasks throughout; every
// tracked task is checked as recorded (finished once, its 3 notifications).
//
// Metrics, each printed with the figure it is compared to and the ratio:
// - bullmq.redis.raw.add.jobs_per_s, bullmq.redis.raw.add_bulk.jobs_per_s, bullmq.redis.raw.jobs_per_s
//   (raw BullMQ on Redis: queue.add awaited in a loop, addBulk of 1,000, one worker draining);
// - bullmq.redis.tracked_postgres.enqueue.tasks_per_s, …enqueue_many.tasks_per_s (tl.tasks.enqueue
//   awaited in a loop; enqueueMany of 1,000), bullmq.redis.tracked_postgres.tasks_per_s (the engine
//   on Redis, ledger on PostgreSQL, draining) beside ledger.floor.postgres.tasks_per_s (bench/ledger.js);
// - bullmq.redis.tracked_mysql.tasks_per_s beside ledger.floor.mysql.tasks_per_s;
// - ledger.worker_no_broker.{postgres,mysql}.tasks_per_s: the same worker process and drain with its
//   queue in its own memory (the memory engine): no broker at all, what any engine can reach at best;
// - bullmq.pg.raw.jobs_per_s and bullmq.pg.tracked.tasks_per_s (bench/bullmq-pg.js);
// - bullmq.cancel_cross_process.p99_ms: a running task canceled by this process (tl.tasks.cancel on
//   the same ledger and Redis) until the handler's AbortSignal fires in the worker process;
// - bullmq.redis.reserve_lateness.p99_ms: handler start − the reservation's time, many
//   reservations spread over a few seconds (ledger on PostgreSQL).
// A drain's time runs from the worker's start (its first sweep and relay included) to the last
// outcome committed; `start_ms` says how much of it the start took. Each ledger's floor and
// tracked drain run TL_BENCH_PAIRS times in turn (default 3): a figure is the median of its runs,
// all runs printed beside it (`runs`, and each pair's ratio in `of_floor_by_pair`).
//
// TL_BENCH_SERVERS_PARTS=redis,postgres,mysql,pg,cancel,reserve runs only those parts;
// TL_BENCH_RESERVE_SPREAD_MS (default 3000) spreads the reservations over less (a burst) or more.
import { sql } from "kysely";
import { createTaskledger, openDatabase } from "../dist/index.js";
import { rawPg, trackedPg } from "./bullmq-pg.js";
import { floor } from "./ledger.js";
import {
  addBulkAndDrain,
  cancelLatencies,
  emit,
  percentile,
  round,
  say,
  sleep,
  startWorkerChild,
  summary,
  until,
} from "./lib.js";
import { dropDatabases, freshDatabase, startService, stopAll } from "./services.js";
import { benchTasks, hold, noop, stamp } from "./tasks.js";

const RAW_JOBS = Number(process.env.TL_BENCH_TASKS ?? 50_000);
const RAW_ADD = Number(process.env.TL_BENCH_ENQUEUE ?? 20_000);
const TRACKED = Number(process.env.TL_BENCH_SERVER_TASKS ?? 20_000);
const TRACKED_ADD = Number(process.env.TL_BENCH_SERVER_ENQUEUE ?? 3_000);
const CANCELS = Number(process.env.TL_BENCH_CANCELS ?? 200);
const RESERVATIONS = Number(process.env.TL_BENCH_RESERVATIONS ?? 1_500);
const BATCH = 1_000;
/** Floor and tracked runs per ledger, in turn; each figure is the median of its runs. */
const PAIRS = Number(process.env.TL_BENCH_PAIRS ?? 3);
const TARGETS = {
  postgresOfFloor: 0.7,
  postgresOfRaw: 0.25,
  mysqlOfFloor: 0.6,
  cancelP99Ms: 100,
  reserveP99Ms: 100,
};
const PARTS = (process.env.TL_BENCH_SERVERS_PARTS ?? "redis,postgres,mysql,pg,cancel,reserve")
  .split(",")
  .map((p) => p.trim());

let bullmq;
let Redis;
try {
  bullmq = await import("bullmq");
  ({ Redis } = await import("ioredis"));
} catch (error) {
  say(`bullmq-servers: skipped — bullmq or ioredis is not installed (${error.message})`);
  emit("bullmq.redis.raw.jobs_per_s", null, "jobs/s", { skipped: error.message });
  process.exit(0);
}

const options = () => ({ description: "bench no-op", owner: "bench" });
const ratio = (value, of) => (of ? round(value / of) : null);
const skipped = (metrics, reason) => {
  process.stderr.write(`\n  *** SKIPPED: ${reason} ***\n\n`);
  for (const [metric, unit] of metrics) emit(metric, null, unit, { skipped: reason });
};

/** Empty the bench's Redis between parts: each starts from nothing. */
async function flushRedis(url) {
  const client = new Redis(url, { maxRetriesPerRequest: null });
  await client.flushall();
  await client.quit();
}

/** Raw BullMQ on Redis: add one by one, addBulk, and one worker draining. */
async function rawRedis(redis) {
  const { hostname: host, port } = new URL(redis.url);
  const connection = { host, port: Number(port), maxRetriesPerRequest: null };
  const adding = new bullmq.Queue("bench-add", { connection });
  for (let i = 0; i < 1_000; i++) await adding.add("noop", { n: i }); // warm-up
  const started = performance.now();
  for (let i = 0; i < RAW_ADD; i++) await adding.add("noop", { n: i });
  const add = RAW_ADD / ((performance.now() - started) / 1000);
  await adding.obliterate({ force: true });
  await adding.close();
  emit("bullmq.redis.raw.add.jobs_per_s", add, "jobs/s", { jobs: RAW_ADD, redis: redis.version });

  const { addSeconds, seconds } = await addBulkAndDrain(bullmq, connection, RAW_JOBS, BATCH);
  const bulk = RAW_JOBS / addSeconds;
  emit("bullmq.redis.raw.add_bulk.jobs_per_s", bulk, "jobs/s", { jobs: RAW_JOBS, batch: BATCH });
  const perSecond = RAW_JOBS / seconds;
  say(
    `raw BullMQ on Redis: add ${round(add, 0)}/s, addBulk ${round(bulk, 0)}/s, drain ${round(perSecond, 0)}/s`,
  );
  emit("bullmq.redis.raw.jobs_per_s", perSecond, "jobs/s", {
    jobs: RAW_JOBS,
    concurrency: 10,
    redis: redis.version,
  });
  await flushRedis(redis.url);
  return { add, bulk, drain: perSecond };
}

/** Every one of `count` tasks in the ledger at `url` finished once with its 3 notifications. */
async function verify(url, count, what) {
  const database = openDatabase(url);
  try {
    const one = async (statement) => Number((await sql.raw(statement).execute(database.db)).rows[0].n);
    const finished = await one(
      "select count(*) as n from tasks where status = 'finished' and failed = 0 and attempts = 1 and progress = 100",
    );
    const total = await one("select count(*) as n from tasks");
    const notes = await one("select count(*) as n from notifications");
    if (finished !== count || total !== count || notes !== 3 * count) {
      say(
        `${what}: NOT fully recorded: ${finished} of ${count} finished (${total} tasks), ${notes} notifications (expected ${3 * count})`,
      );
      process.exitCode = 1;
      return false;
    }
    return true;
  } finally {
    await database.close();
  }
}

/** The engine on Redis with the ledger at `url`: queue TRACKED tasks, drain them with one worker process. */
async function trackedRedis(name, url, redis) {
  const tl = createTaskledger({ database: url, redis: redis.url, tasks: benchTasks });
  await tl.migrate();
  const started = performance.now();
  for (let i = 0; i < TRACKED; i += BATCH) {
    await tl.tasks.enqueueMany(
      Array.from({ length: Math.min(BATCH, TRACKED - i) }, (_, j) => ({
        task: noop,
        payload: { n: i + j },
        options: options(),
      })),
    );
  }
  const enqueueMany = TRACKED / ((performance.now() - started) / 1000);
  await tl.close();
  const { event, recorded } = await drainInChild(url, name, { TASKLEDGER_REDIS_URL: redis.url });

  const { rounds, asked, taken } = event.takes;
  await flushRedis(redis.url);
  return {
    perSecond: TRACKED / (event.ms / 1000),
    enqueueMany,
    recorded,
    takes: {
      takes: rounds,
      taken_per_take: round(taken / rounds),
      free_per_take: round(asked / rounds),
      short_takes: event.takes.short,
      // Where the drain's time went: in the takes (Redis, inside the round's transaction), in
      // write transactions (rounds: ledger + take + after-commit), and outside them.
      take_ms_per_take: round(event.takes.takeMs / rounds),
      write_ms_per_write: round(event.takes.writeMs / event.takes.writes),
      writes: event.takes.writes,
      outside_writes_ms: round(event.ms - event.readyMs - event.takes.writeMs, 0),
    },
    startMs: round(event.readyMs, 0),
    cpuMs: round(event.cpuMs, 0),
    cpuMsPerTask: round(event.cpuMs / TRACKED, 3),
  };
}

/**
 * The same worker process and drain with no broker at all: its queue in its own memory (the
 * memory engine, filled before it starts). What any engine outside the ledger can reach at best.
 */
async function noBroker(url) {
  const { event } = await drainInChild(url, "no broker", { TL_ENGINE: "memory", TL_ENQUEUE: TRACKED });
  return TRACKED / (event.ms / 1000);
}

/** One worker process (concurrency 10, plus `env`) drains TRACKED tasks of the ledger at `url`; checked as recorded. */
async function drainInChild(url, name, env) {
  const worker = startWorkerChild({ TL_DATABASE: url, TL_CONCURRENCY: 10, TL_DRAIN: TRACKED, ...env });
  const event = await worker.next((e) => e.event === "drained", 600_000);
  await worker.stop();
  return { event, recorded: await verify(url, TRACKED, name) };
}

/** tl.tasks.enqueue awaited in a loop on Redis + the ledger at `url`. */
async function enqueueOneByOne(url, redis) {
  const tl = createTaskledger({ database: url, redis: redis.url, tasks: benchTasks });
  await tl.migrate();
  for (let i = 0; i < 100; i++) await tl.tasks.enqueue(noop, { n: i }, options()); // warm-up
  const started = performance.now();
  for (let i = 0; i < TRACKED_ADD; i++) await tl.tasks.enqueue(noop, { n: i }, options());
  const perSecond = TRACKED_ADD / ((performance.now() - started) / 1000);
  await tl.close();
  await flushRedis(redis.url);
  return perSecond;
}

/**
 * The floor and the tracked drain on `server`, PAIRS times in turn (floor, tracked, floor, …):
 * on shared machines one run of either can be off by a third, so each figure is the median of its
 * runs, every run listed beside it. The tracked figures are the median run's.
 */
async function pairs(server, dialect, name, redis, about) {
  const floors = [];
  const runs = [];
  const inProcess = [];
  for (let i = 0; i < PAIRS; i++) {
    floors.push(await floor(await freshDatabase(server), dialect));
    runs.push(await trackedRedis(name, await freshDatabase(server), redis));
    inProcess.push(await noBroker(await freshDatabase(server)));
    say(
      `${name}: pair ${i + 1} of ${PAIRS}: floor ${round(floors.at(-1), 0)}, tracked ${round(runs.at(-1).perSecond, 0)}, ` +
        `no broker ${round(inProcess.at(-1), 0)} tasks/s`,
    );
  }
  const floorPerSecond = percentile(floors, 50);
  emit(`ledger.floor.${dialect}.tasks_per_s`, floorPerSecond, "tasks/s", {
    round: 10,
    runs: floors.map((f) => round(f, 0)),
    ...about,
  });
  emit(`ledger.worker_no_broker.${dialect}.tasks_per_s`, percentile(inProcess, 50), "tasks/s", {
    tasks: TRACKED,
    concurrency: 10,
    runs: inProcess.map((r) => round(r, 0)),
    of_floor: round(percentile(inProcess, 50) / floorPerSecond),
    about: "the same worker with its queue in its own memory (the memory engine): what any broker adds to",
  });
  const middle = percentile(
    runs.map((r) => r.perSecond),
    50,
  );
  const t = runs.find((r) => r.perSecond === middle);
  return {
    floorPerSecond,
    t: { ...t, recorded: runs.every((r) => r.recorded) },
    tracked: runs.map((r) => round(r.perSecond, 0)),
    ratios: runs.map((r, i) => round(r.perSecond / floors[i])),
  };
}

async function postgresPart(redis, postgres, raw) {
  const about = { redis: redis.version, postgres: postgres.version, durability: postgres.durability };
  const enqueue = await enqueueOneByOne(await freshDatabase(postgres), redis);
  const { floorPerSecond, t, tracked, ratios } = await pairs(
    postgres,
    "postgres",
    "bullmq.redis.tracked_postgres",
    redis,
    about,
  );
  emit("bullmq.redis.tracked_postgres.enqueue.tasks_per_s", enqueue, "tasks/s", {
    tasks: TRACKED_ADD,
    of_raw_add: ratio(enqueue, raw?.add),
    ...about,
  });
  emit("bullmq.redis.tracked_postgres.enqueue_many.tasks_per_s", t.enqueueMany, "tasks/s", {
    tasks: TRACKED,
    batch: BATCH,
    of_raw_add_bulk: ratio(t.enqueueMany, raw?.bulk),
    ...about,
  });
  const ofFloor = t.perSecond / floorPerSecond;
  const ofRaw = raw ? t.perSecond / raw.drain : null;
  say(
    `tracked, Redis + PostgreSQL ledger: ${round(t.perSecond, 0)} tasks/s = ${round(ofFloor)} × floor ` +
      `${round(floorPerSecond, 0)} (target ≥ ${TARGETS.postgresOfFloor}), ${ofRaw === null ? "?" : round(ofRaw)} × raw Redis ` +
      `(target ≥ ${TARGETS.postgresOfRaw}); takes ${JSON.stringify(t.takes)}, start ${t.startMs} ms`,
  );
  emit("bullmq.redis.tracked_postgres.tasks_per_s", t.perSecond, "tasks/s", {
    tasks: TRACKED,
    concurrency: 10,
    recorded: t.recorded,
    floor: round(floorPerSecond, 0),
    of_floor: round(ofFloor),
    raw: raw ? round(raw.drain, 0) : null,
    of_raw: ofRaw === null ? null : round(ofRaw),
    target: `≥ ${TARGETS.postgresOfFloor} × floor, ≥ ${TARGETS.postgresOfRaw} × raw Redis`,
    within_target: ofFloor >= TARGETS.postgresOfFloor && ofRaw !== null && ofRaw >= TARGETS.postgresOfRaw,
    runs: tracked,
    of_floor_by_pair: ratios,
    ...t.takes,
    start_ms: t.startMs,
    cpu_ms: t.cpuMs,
    worker_cpu_ms_per_task: t.cpuMsPerTask,
    ...about,
  });
}

async function mysqlPart(redis, mysql) {
  const about = { redis: redis.version, mysql: mysql.version, durability: mysql.durability };
  const { floorPerSecond, t, tracked, ratios } = await pairs(
    mysql,
    "mysql",
    "bullmq.redis.tracked_mysql",
    redis,
    about,
  );
  const ofFloor = t.perSecond / floorPerSecond;
  say(
    `tracked, Redis + MariaDB ledger: ${round(t.perSecond, 0)} tasks/s = ${round(ofFloor)} × floor ` +
      `${round(floorPerSecond, 0)} (target ≥ ${TARGETS.mysqlOfFloor}); takes ${JSON.stringify(t.takes)}, start ${t.startMs} ms`,
  );
  emit("bullmq.redis.tracked_mysql.tasks_per_s", t.perSecond, "tasks/s", {
    tasks: TRACKED,
    concurrency: 10,
    recorded: t.recorded,
    floor: round(floorPerSecond, 0),
    of_floor: round(ofFloor),
    target: `≥ ${TARGETS.mysqlOfFloor} × floor`,
    within_target: ofFloor >= TARGETS.mysqlOfFloor,
    runs: tracked,
    of_floor_by_pair: ratios,
    enqueue_many_per_s: round(t.enqueueMany, 0),
    ...t.takes,
    start_ms: t.startMs,
    cpu_ms: t.cpuMs,
    worker_cpu_ms_per_task: t.cpuMsPerTask,
    ...about,
  });
}

/** A running task canceled from this process; the worker process stamps when its signal fires. */
async function cancelPart(redis, postgres) {
  const url = await freshDatabase(postgres);
  const tl = createTaskledger({ database: url, redis: redis.url, tasks: benchTasks });
  await tl.migrate();
  const worker = startWorkerChild({ TL_DATABASE: url, TL_CONCURRENCY: 10, TASKLEDGER_REDIS_URL: redis.url });
  await worker.next((e) => e.event === "ready");
  const latencies = await cancelLatencies(tl, worker, hold, CANCELS);
  await worker.stop();
  await tl.close();
  await flushRedis(redis.url);
  const s = summary(latencies);
  say(
    `cancel across processes (Redis + PostgreSQL): p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms (target p99 ≤ ${TARGETS.cancelP99Ms} ms)`,
  );
  emit("bullmq.cancel_cross_process.p99_ms", s.p99_ms, "ms", {
    ...s,
    target: `≤ ${TARGETS.cancelP99Ms} ms`,
    within_target: s.p99_ms <= TARGETS.cancelP99Ms,
    ledger: "postgres",
  });
}

/** Reservations spread over a few seconds; a worker process stamps each handler's start. */
async function reservePart(redis, postgres) {
  const SPREAD_MS = Number(process.env.TL_BENCH_RESERVE_SPREAD_MS ?? 3_000);
  const url = await freshDatabase(postgres);
  const tl = createTaskledger({
    database: url,
    redis: redis.url,
    tasks: benchTasks,
    reservationLeadSeconds: 0,
  });
  await tl.migrate();
  const worker = startWorkerChild({ TL_DATABASE: url, TL_CONCURRENCY: 10, TASKLEDGER_REDIS_URL: redis.url });
  await worker.next((e) => e.event === "ready");
  const starts = new Map();
  const collecting = (async () => {
    while (starts.size < RESERVATIONS) {
      const e = await worker.next((e) => e.event === "started", SPREAD_MS + 120_000);
      starts.set(e.id, e.at);
    }
  })();
  // Reserving is set-up: 20 at once, and the first due time well after it ends.
  const base = Date.now() + 5_000;
  const due = new Map();
  for (let i = 0; i < RESERVATIONS; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, RESERVATIONS - i) }, async (_, j) => {
        const at = base + Math.floor(Math.random() * SPREAD_MS);
        const task = await tl.tasks.reserve(
          at,
          stamp,
          { i: i + j },
          { description: "reserved", owner: "bench" },
        );
        due.set(task.id, at);
      }),
    );
  }
  const late = Date.now() - base;
  say(`reservations: all ${RESERVATIONS} recorded ${-late} ms before the first due time`);
  if (late >= 0) say(`warning: reserving took past the first due time (${late} ms late)`);
  await collecting;
  await until(async () => (await tl.status()).counts.every((c) => c.status === "finished"), {
    intervalMs: 50,
    message: "every reservation to finish",
  });
  await worker.stop();
  const { takes } = await worker.next((e) => e.event === "takes").catch(() => ({ takes: undefined }));
  await tl.close();
  await flushRedis(redis.url);
  const lateness = [...due].map(([id, at]) => starts.get(id) - at);
  const s = summary(lateness);
  const early = lateness.filter((l) => l < 0).length;
  // Lateness over the spread, by 500 ms of due time: a queue that builds up grows; a missed wake-up is a spike.
  const buckets = new Map();
  for (const [id, at] of due) {
    const b = Math.floor((at - base) / 500);
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b).push(starts.get(id) - at);
  }
  const overTime = [...buckets]
    .sort((a, b) => a[0] - b[0])
    .map(([b, l]) => `${b * 500}ms: p50 ${round(percentile(l, 50), 0)} max ${round(Math.max(...l), 0)}`);
  say(`reservation lateness by due time: ${overTime.join("; ")}`);
  if (takes)
    say(
      `reservations: worker takes ${takes.rounds}, ${round(takes.taken / takes.rounds)} of ${round(takes.asked / takes.rounds)} free slots a take, ` +
        `${round(takes.takeMs / takes.rounds)} ms a take, ${round(takes.writeMs / takes.writes)} ms a write`,
    );
  say(
    `reservation lateness (Redis + PostgreSQL): p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms, early ${early} (target p99 ≤ ${TARGETS.reserveP99Ms} ms)`,
  );
  emit("bullmq.redis.reserve_lateness.p99_ms", s.p99_ms, "ms", {
    ...s,
    early,
    spread_ms: SPREAD_MS,
    target: `≤ ${TARGETS.reserveP99Ms} ms`,
    within_target: s.p99_ms <= TARGETS.reserveP99Ms,
    ledger: "postgres",
  });
}

try {
  const redis = await startService("redis");
  const postgres = await startService("postgres");
  const mysql = PARTS.includes("mysql") ? await startService("mysql") : { skipped: "not asked for" };
  for (const s of [redis, postgres, mysql]) if (!s.skipped) say(`${s.name}: ${s.version}; ${s.durability}`);
  let raw;
  if (redis.skipped) {
    skipped(
      [
        ["bullmq.redis.raw.jobs_per_s", "jobs/s"],
        ["bullmq.redis.tracked_postgres.tasks_per_s", "tasks/s"],
        ["bullmq.redis.tracked_mysql.tasks_per_s", "tasks/s"],
        ["bullmq.cancel_cross_process.p99_ms", "ms"],
        ["bullmq.redis.reserve_lateness.p99_ms", "ms"],
      ],
      redis.skipped,
    );
  } else if (PARTS.includes("redis")) {
    raw = await rawRedis(redis);
  }
  if (!redis.skipped) {
    if (postgres.skipped)
      skipped([["bullmq.redis.tracked_postgres.tasks_per_s", "tasks/s"]], postgres.skipped);
    else {
      if (PARTS.includes("postgres")) await postgresPart(redis, postgres, raw);
      if (PARTS.includes("cancel")) await cancelPart(redis, postgres);
      if (PARTS.includes("reserve")) await reservePart(redis, postgres);
    }
    if (PARTS.includes("mysql")) {
      if (mysql.skipped) skipped([["bullmq.redis.tracked_mysql.tasks_per_s", "tasks/s"]], mysql.skipped);
      else await mysqlPart(redis, mysql);
    }
  }
  if (PARTS.includes("pg")) {
    if (postgres.skipped) skipped([["bullmq.pg.tracked.tasks_per_s", "tasks/s"]], postgres.skipped);
    else {
      const rawPerSecond = await rawPg(await freshDatabase(postgres), postgres.version);
      await trackedPg(await freshDatabase(postgres), rawPerSecond, postgres.version);
    }
  }
} finally {
  await dropDatabases();
  await stopAll();
}
await sleep(0);
process.exit(process.exitCode ?? 0);
