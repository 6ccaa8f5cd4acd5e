// Write amplification: how many pages each workload appends to the SQLite log (WAL frames), per
// task and per commit, and in which B-trees. A commit costs about its frames (each is written and
// checksummed), so this is the figure to move when enqueue or processing is commit-bound, and,
// unlike a rate, it does not depend on the machine or its load: two runs of the same code print
// the same numbers.
//
// Each workload runs with automatic checkpoints off, so the log holds every frame it wrote; frames
// are then read from the log file and attributed to tables and indexes with SQLite's dbstat.
//
// Metrics: embedded.writes.enqueue_frames_per_task, embedded.writes.enqueue_many_frames_per_task,
// embedded.writes.process_frames_per_task.
import { readFileSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger, openDatabase } from "../dist/index.js";
import { assertRecorded, emit, round, say, sleep, tempDatabase } from "./lib.js";
import { benchTasks, counters, enqueueNoops, noop } from "./tasks.js";

const ONE_BY_ONE = 2_000;
const MANY = 20_000;
const PROCESS = 10_000;
const options = { description: "bench no-op", owner: "bench" };

/** A ledger with `queued` tasks already in it, its log emptied and its checkpoints off. */
async function ledger(queued) {
  const { url, file } = tempDatabase("tl-writes-");
  // No checkpoint thread either: the log must keep every frame the workload appends.
  const database = openDatabase(url, { checkpointThread: false });
  const tl = createTaskledger({ database, tasks: benchTasks });
  await tl.migrate();
  await enqueueNoops(tl, queued);
  database.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  database.sqlite.pragma("wal_autocheckpoint = 0");
  return { tl, file };
}

/** Frames in the log: per commit, and per B-tree (pages are attributed as they are at the end). */
function frames(file) {
  const log = readFileSync(`${file}-wal`);
  const pageSize = log.readUInt32BE(8);
  const byPage = new Map();
  let total = 0;
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= log.length; at += 24 + pageSize) {
    const page = log.readUInt32BE(at);
    byPage.set(page, (byPage.get(page) ?? 0) + 1);
    total++;
    if (log.readUInt32BE(at + 4) !== 0) commits++;
  }
  const db = new BetterSqlite3(file, { readonly: true });
  const owner = new Map(
    db
      .prepare("select pageno, name from dbstat")
      .all()
      .map((r) => [r.pageno, r.name]),
  );
  db.close();
  const byTree = {};
  for (const [page, count] of byPage) {
    const name = owner.get(page) ?? "(free)";
    byTree[name] = (byTree[name] ?? 0) + count;
  }
  return { total, commits, byTree };
}

function report(metric, what, tasks, { total, commits, byTree }) {
  const perTask = total / tasks;
  const trees = Object.entries(byTree)
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => [name, round(count / tasks, 3)]);
  say(
    `${what}: ${tasks} tasks, ${commits} commits, ${total} frames = ${round(perTask, 3)} per task, ${round(total / commits, 1)} per commit`,
  );
  for (const [name, count] of trees) say(`  ${String(count).padStart(7)}  ${name}`);
  emit(metric, perTask, "frames/task", {
    tasks,
    commits,
    frames_per_commit: round(total / commits, 1),
    by_tree: Object.fromEntries(trees),
  });
}

{
  const { tl, file } = await ledger(0);
  for (let i = 0; i < ONE_BY_ONE; i++) await tl.tasks.enqueue(noop, { n: i }, options);
  const counted = frames(file);
  await tl.close();
  report("embedded.writes.enqueue_frames_per_task", "enqueue one by one", ONE_BY_ONE, counted);
}

{
  const { tl, file } = await ledger(0);
  for (let i = 0; i < MANY; i += 1_000) {
    await tl.tasks.enqueueMany(
      Array.from({ length: 1_000 }, (_, j) => ({ task: noop, payload: { n: i + j }, options })),
    );
  }
  const counted = frames(file);
  await tl.close();
  report("embedded.writes.enqueue_many_frames_per_task", "enqueueMany, batches of 1,000", MANY, counted);
}

{
  const { tl, file } = await ledger(PROCESS);
  const worker = tl.createWorker({ concurrency: 10 });
  const before = counters.runs;
  await worker.start();
  while (counters.runs - before < PROCESS) await sleep(2);
  await worker.stop();
  assertRecorded(file, PROCESS, "embedded.writes.process");
  const counted = frames(file);
  await tl.close();
  report("embedded.writes.process_frames_per_task", "one worker, concurrency 10", PROCESS, counted);
}
