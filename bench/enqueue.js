// Enqueue throughput: one by one with sequential awaits (each its own transaction), from many
// concurrent callers (which share commits), and in batches with enqueueMany. Every task is
// checked afterwards: a queued row each (on the embedded engine the row is the queue entry).
// Beside them, the floor: raw better-sqlite3 writing the same row into the same table and
// indexes, one transaction per task and in batches.
//
// Metrics: embedded.enqueue.tasks_per_s, embedded.enqueue_many.tasks_per_s,
// embedded.enqueue_concurrent.tasks_per_s, sqlite.floor.enqueue_tx_per_s,
// sqlite.floor.enqueue_batch_per_s.
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { emit, round, say, tempDatabase } from "./lib.js";
import { benchTasks, noop } from "./tasks.js";

const ONE_BY_ONE = Number(process.env.TL_BENCH_ENQUEUE ?? 50_000);
const MANY = Number(process.env.TL_BENCH_ENQUEUE_MANY ?? 200_000);
const BATCH = 1_000;
const CALLERS = 100;

const options = () => ({ description: "bench no-op", owner: "bench" });

/**
 * The same row as an enqueue writes — a task, which on the embedded engine is also its queue
 * entry, in the ledger's own schema and indexes — straight through better-sqlite3 with a
 * statement prepared once.
 */
async function sqliteFloor(count, perTransaction) {
  const { url, file } = tempDatabase("tl-floor-");
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  await tl.close();
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const task =
    db.prepare(`insert into tasks (name, description, owner, queue, priority, status, failed, progress,
      payload, attempts, max_attempts, retry, timeout_ms, reserved_at, schedule_id, slot_at, created_at, updated_at, run_at)
    values ('bench_noop', 'bench no-op', 'bench', 'default', 0, 'queued', 0, 0, ?, 0, 4,
      '5000', 60000, null, null, null, ?, ?, ?)`);
  const write = db.transaction((from, to) => {
    const now = Date.now();
    for (let i = from; i < to; i++) task.run(JSON.stringify({ n: i }), now, now, now);
  });
  const started = performance.now();
  for (let i = 0; i < count; i += perTransaction) write.immediate(i, Math.min(count, i + perTransaction));
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return count / seconds;
}

function checkQueued(file, expected, what) {
  const db = new BetterSqlite3(file, { readonly: true });
  const tasks = db
    .prepare(
      "select count(*) from tasks where status = 'queued' and run_at is not null and worker_id is null",
    )
    .pluck()
    .get();
  db.close();
  if (tasks !== expected) {
    say(`${what}: ${tasks} queued tasks, expected ${expected}`);
    process.exitCode = 1;
    return false;
  }
  return true;
}

async function oneByOne() {
  const { url, file } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  for (let i = 0; i < 1_000; i++) await tl.tasks.enqueue(noop, { n: i }, options(i)); // warm-up
  const started = performance.now();
  for (let i = 0; i < ONE_BY_ONE; i++) await tl.tasks.enqueue(noop, { n: i }, options(i));
  const seconds = (performance.now() - started) / 1000;
  await tl.close();
  const recorded = checkQueued(file, ONE_BY_ONE + 1_000, "embedded.enqueue");
  say(`enqueue one by one: ${ONE_BY_ONE} in ${round(seconds * 1000, 0)} ms`);
  emit("embedded.enqueue.tasks_per_s", ONE_BY_ONE / seconds, "tasks/s", { tasks: ONE_BY_ONE, recorded });
}

async function concurrent() {
  const { url, file } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  let next = 0;
  const caller = async () => {
    for (let i = next++; i < ONE_BY_ONE; i = next++) await tl.tasks.enqueue(noop, { n: i }, options(i));
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CALLERS }, caller));
  const seconds = (performance.now() - started) / 1000;
  await tl.close();
  const recorded = checkQueued(file, ONE_BY_ONE, "embedded.enqueue_concurrent");
  say(`enqueue from ${CALLERS} concurrent callers: ${ONE_BY_ONE} in ${round(seconds * 1000, 0)} ms`);
  emit("embedded.enqueue_concurrent.tasks_per_s", ONE_BY_ONE / seconds, "tasks/s", {
    tasks: ONE_BY_ONE,
    callers: CALLERS,
    recorded,
  });
}

async function many() {
  const { url, file } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  const batches = [];
  for (let i = 0; i < MANY; i += BATCH) {
    batches.push(
      Array.from({ length: BATCH }, (_, j) => ({
        task: noop,
        payload: { n: i + j },
        options: options(i + j),
      })),
    );
  }
  await tl.tasks.enqueueMany(batches[0].slice(0, 100)); // warm-up
  const started = performance.now();
  for (const batch of batches) await tl.tasks.enqueueMany(batch);
  const seconds = (performance.now() - started) / 1000;
  await tl.close();
  const recorded = checkQueued(file, MANY + 100, "embedded.enqueue_many");
  say(`enqueueMany: ${MANY} in batches of ${BATCH} in ${round(seconds * 1000, 0)} ms`);
  emit("embedded.enqueue_many.tasks_per_s", MANY / seconds, "tasks/s", {
    tasks: MANY,
    batch: BATCH,
    recorded,
  });
}

const floorOne = await sqliteFloor(ONE_BY_ONE, 1);
say(`sqlite floor, one enqueue per transaction: ${round(floorOne, 0)}/s`);
emit("sqlite.floor.enqueue_tx_per_s", floorOne, "tx/s", { tasks: ONE_BY_ONE });
await oneByOne();
await concurrent();
const floorBatch = await sqliteFloor(MANY, BATCH);
say(`sqlite floor, ${BATCH} enqueues per transaction: ${round(floorBatch, 0)}/s`);
emit("sqlite.floor.enqueue_batch_per_s", floorBatch, "rows/s", { tasks: MANY, batch: BATCH });
await many();
