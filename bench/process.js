// Throughput of one worker process (concurrency 10) on no-op tasks, every task fully recorded,
// beside the SQLite write floor (raw better-sqlite3: one claim + one completion per transaction),
// and the worker's RSS over the run.
//
// The tasks belong to one owner. Spread over many owners, each round of the worker writes into
// as many places of the per-owner indexes (notifications, task lists), so more pages per commit:
// that run is measured too, smaller, as embedded.process_100_owners.tasks_per_s.
//
// Metrics: sqlite.floor.claim_complete_per_s, embedded.process.tasks_per_s, embedded.worker.rss_mb,
// embedded.process_100_owners.tasks_per_s.
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { assertRecorded, emit, round, say, startWorkerChild, tempDatabase } from "./lib.js";
import { benchTasks, enqueueNoops } from "./tasks.js";

const TASKS = Number(process.env.TL_BENCH_TASKS ?? 100_000);
const FLOOR_TASKS = Math.min(TASKS, 50_000);
const SPREAD_TASKS = Math.min(TASKS, 30_000);

/**
 * The floor: what SQLite itself does on this machine with the same durability settings (WAL,
 * synchronous NORMAL) for the least a queue must write per task — claim one waiting row with
 * `UPDATE … RETURNING`, then record its completion, one transaction per task.
 */
function sqliteFloor(count) {
  const { file } = tempDatabase("tl-floor-");
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`create table jobs (
    id integer primary key autoincrement, queue text not null, priority integer not null default 0,
    run_at integer not null, status text not null, attempts integer not null default 0,
    lease_owner text, lease_expires_at integer, result text, started_at integer, finished_at integer)`);
  db.exec(`create index jobs_waiting on jobs (queue, priority desc, run_at, id) where lease_owner is null`);
  const insert = db.prepare("insert into jobs (queue, run_at, status) values ('default', ?, 'queued')");
  db.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(Date.now());
  })();
  const claim = db.prepare(`update jobs set lease_owner = ?, lease_expires_at = ?, status = 'running',
      attempts = attempts + 1, started_at = ?
    where id = (select id from jobs where lease_owner is null and queue = 'default' and run_at <= ?
      order by priority desc, run_at, id limit 1)
    returning id, attempts`);
  const complete = db.prepare(
    "update jobs set status = 'finished', result = ?, finished_at = ? where id = ? and attempts = ?",
  );
  const step = db.transaction(() => {
    const now = Date.now();
    const job = claim.get("floor", now + 30_000, now, now);
    complete.run("true", now, job.id, job.attempts);
  });
  const started = performance.now();
  for (let i = 0; i < count; i++) step.immediate();
  const seconds = (performance.now() - started) / 1000;
  const done = db.prepare("select count(*) from jobs where status = 'finished'").pluck().get();
  db.close();
  if (done !== count) throw new Error(`floor: ${done} of ${count} jobs finished`);
  return count / seconds;
}

async function fill(url, count, owners) {
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  await enqueueNoops(tl, count, (n) => `user${n % owners}`);
  await tl.close();
}

/** Queue `count` tasks, then drain them with one worker process; returns its events. */
async function drain(count, owners) {
  const { url, file } = tempDatabase();
  await fill(url, count, owners);
  say(`${count} tasks of ${owners} owner(s) queued; starting one worker process (concurrency 10)`);
  const worker = startWorkerChild({
    TL_DATABASE: url,
    TL_CONCURRENCY: 10,
    TL_DRAIN: count,
    TL_RSS_EVERY: count / 10,
  });
  const rss = [];
  for (;;) {
    const event = await worker.next((e) => e.event === "rss" || e.event === "drained");
    if (event.event === "rss") {
      rss.push(event);
      continue;
    }
    await worker.stop();
    const recorded = assertRecorded(file, count, `embedded.process (${owners} owners)`);
    const perSecond = count / (event.ms / 1000);
    say(
      `embedded worker: ${count} tasks in ${round(event.ms, 0)} ms = ${round(perSecond, 0)} tasks/s (cpu ${round(event.cpuMs, 0)} ms)`,
    );
    return { perSecond, recorded, rss, cpuMs: event.cpuMs };
  }
}

const floor = sqliteFloor(FLOOR_TASKS);
say(`sqlite floor: ${round(floor, 0)} claim+complete transactions/s`);
emit("sqlite.floor.claim_complete_per_s", floor, "tx/s", { transactions: FLOOR_TASKS });

const one = await drain(TASKS, 1);
emit("embedded.process.tasks_per_s", one.perSecond, "tasks/s", {
  tasks: TASKS,
  concurrency: 10,
  owners: 1,
  recorded: one.recorded,
  vs_floor: round(one.perSecond / floor),
  cpu_ms: round(one.cpuMs, 0),
});

const at = (runs) => one.rss.filter((s) => s.runs >= runs).at(0)?.mb ?? Number.NaN;
const half = at(TASKS / 2);
const end = one.rss.at(-1).mb;
for (const sample of one.rss)
  say(`rss after ${sample.runs} tasks: ${round(sample.mb, 1)} MB (js heap ${round(sample.heapMb, 1)} MB)`);
emit("embedded.worker.rss_mb", end, "MB", {
  tasks: TASKS,
  at_half_mb: round(half, 1),
  at_end_mb: round(end, 1),
  growth_second_half_mb: round(end - half, 1),
  samples: one.rss.map((s) => [s.runs, round(s.mb, 1)]),
});

const spread = await drain(SPREAD_TASKS, 100);
emit("embedded.process_100_owners.tasks_per_s", spread.perSecond, "tasks/s", {
  tasks: SPREAD_TASKS,
  concurrency: 10,
  owners: 100,
  recorded: spread.recorded,
  vs_floor: round(spread.perSecond / floor),
  cpu_ms: round(spread.cpuMs, 0),
});
