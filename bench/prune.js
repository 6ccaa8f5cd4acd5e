// Retention on a large ledger: how long one prune batch holds the write lock, for a few batch
// sizes, and how long a claim in another process waits for the lock while a pass removes 200,000
// old tasks and their 600,000 notifications.
//
// The ledger is filled with SQL (set-up, not measured): old finished tasks, each with the three
// notifications a run writes (progress 0, progress 100, task_finished), then a tail of young
// finished ones, a tenth of them runs of one schedule. Every pass is checked: the old rows gone,
// the young ones kept but for the schedule's runs beyond its newest 100.
//
// Metrics: embedded.prune.batch_ms_p99 (the default batch size; other sizes beside it),
// embedded.prune.run_batch_ms_p99 (batches of schedule runs, which also search the notifications'
// key), embedded.prune.claim_delay_ms_max (and the p99, and the same without a pass for
// comparison), embedded.prune.rows_per_s (tasks and notifications removed per second by a whole
// pass, pauses included).
import { spawn } from "node:child_process";
import { copyFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { runtimeOf } from "../dist/internals.js";
import { PRUNE_BATCH, prune } from "../dist/maintenance/prune.js";
import { emit, percentile, round, say, sleep, summary, tempDatabase, wallNow } from "./lib.js";
import { benchTasks, noop } from "./tasks.js";

const OLD = Number(process.env.TL_BENCH_PRUNE_TASKS ?? 200_000);
const YOUNG = Math.round(OLD / 10);
const RUNS = Math.round(YOUNG / 10);
const KEEP = 100;
const SIZES = [250, 500, PRUNE_BATCH, 2_000, 5_000];
const DAY = 86_400_000;
const MAX_AGE = 30 * DAY;

if (process.env.TL_PRUNE_CLAIMER) await claimer(process.env.TL_PRUNE_CLAIMER);
else await main();

/**
 * The other process: a claim transaction (on a queue with nothing in it, so it measures the wait
 * for the write lock and nothing else) every 2 ms, one line per claim: when it began, how long it took.
 */
async function claimer(url) {
  const tl = createTaskledger({ database: url, tasks: benchTasks, retention: false });
  await tl.migrate();
  let running = true;
  process.on("SIGTERM", () => {
    running = false;
  });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  while (running) {
    const at = wallNow();
    const rt = runtimeOf(tl);
    await rt.transaction((tx) =>
      rt.engine.take({ worker: "probe", queues: ["probe"], limit: 10, now: Date.now() }, tx),
    );
    process.stdout.write(`${JSON.stringify({ at, ms: wallNow() - at })}\n`);
    await sleep(2);
  }
  await tl.close();
}

async function main() {
  const { file: template } = tempDatabase("tl-prune-");
  await fill(template);
  const count = (n) => n.toLocaleString("en-US");
  say(
    `filled: ${count(OLD)} old and ${count(YOUNG)} young finished tasks, ${count(RUNS)} of them schedule runs`,
  );
  const byAge = { tasks: OLD, notifications: 3 * OLD, scheduleRuns: 0 };
  const runs = { tasks: 0, notifications: 3 * (RUNS - KEEP), scheduleRuns: RUNS - KEEP };

  for (const size of SIZES) {
    // Every run kept: batches by age only.
    const { file, url } = copyOf(template);
    const { report, held, ms } = await timedPass(url, size, RUNS);
    check(file, report, byAge, YOUNG);
    const s = summary(held);
    say(
      `batch ${String(size).padStart(5)}: ${s.samples} transactions, held p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms; pass ${round(ms / 1000)} s`,
    );
    if (size !== PRUNE_BATCH) {
      emit(`embedded.prune.batch_${size}.batch_ms_p99`, s.p99_ms, "ms", s);
      continue;
    }
    emit("embedded.prune.batch_ms_p99", s.p99_ms, "ms", { batch: PRUNE_BATCH, ...s });
    emit("embedded.prune.rows_per_s", (OLD * 4) / (ms / 1000), "rows/s", {
      ...report,
      pass_s: round(ms / 1000),
    });
    // Then the schedule's runs beyond its newest KEEP, on the same file.
    const second = await timedPass(url, size, KEEP);
    check(file, second.report, runs, YOUNG - (RUNS - KEEP));
    const r = summary(second.held);
    say(`runs: ${r.samples} transactions, held p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms`);
    emit("embedded.prune.run_batch_ms_p99", r.p99_ms, "ms", { ...r, runs: second.report.scheduleRuns });
  }

  // A claimer in another process, before and during a whole pass with the default batch size.
  const { file, url } = copyOf(template);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, TL_PRUNE_CLAIMER: url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const samples = [];
  const ready = new Promise((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const event = JSON.parse(line);
      if (event.ready) resolve();
      else samples.push(event);
    });
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await ready;
  await sleep(1_000);
  const passStarted = wallNow();
  const { report } = await timedPass(url, PRUNE_BATCH, KEEP);
  const passEnded = wallNow();
  child.kill("SIGTERM");
  await exited;
  check(
    file,
    report,
    { tasks: OLD, notifications: 3 * OLD + runs.notifications, scheduleRuns: runs.scheduleRuns },
    YOUNG - (RUNS - KEEP),
  );
  const idle = samples.filter((s) => s.at < passStarted).map((s) => s.ms);
  const during = samples.filter((s) => s.at >= passStarted && s.at < passEnded).map((s) => s.ms);
  const i = summary(idle);
  const d = summary(during);
  say(`claims in another process without a pass: p50 ${i.p50_ms} ms, p99 ${i.p99_ms} ms, max ${i.max_ms} ms`);
  say(
    `claims in another process during the pass: p50 ${d.p50_ms} ms, p99 ${d.p99_ms} ms, max ${d.max_ms} ms`,
  );
  emit("embedded.prune.claim_delay_ms_max", d.max_ms, "ms", {
    p50_ms: d.p50_ms,
    p99_ms: d.p99_ms,
    claims: d.samples,
    without_pass_max_ms: i.max_ms,
    without_pass_p99_ms: round(percentile(idle, 99)),
  });
}

/**
 * One whole pass on the file, keeping `keep` runs per schedule, with the time each transaction
 * held the write lock (from its first statement to its commit).
 */
async function timedPass(url, batchSize, keep) {
  const tl = createTaskledger({ database: url, tasks: benchTasks, retention: { scheduleRuns: keep } });
  await tl.migrate();
  const held = [];
  const rt = {
    ...runtimeOf(tl),
    async transaction(fn) {
      let began = 0;
      const result = await runtimeOf(tl).transaction((tx) => {
        began = performance.now();
        return fn(tx);
      });
      held.push(performance.now() - began);
      return result;
    },
  };
  const started = performance.now();
  const report = await prune(rt, { olderThanMs: MAX_AGE, batchSize });
  const ms = performance.now() - started;
  await tl.close();
  return { report, held, ms };
}

/** A migrated ledger: OLD finished tasks from 60 days ago with their notifications, then YOUNG from today. */
async function fill(file) {
  const tl = createTaskledger({ database: `sqlite:${file}`, tasks: benchTasks, retention: false });
  await tl.migrate();
  const [model] = await tl.tasks.enqueueMany([
    { task: noop, payload: { n: 0 }, options: { description: "bench no-op", owner: "bench" } },
  ]);
  const schedule = await tl.schedules.schedule({
    key: "bench",
    task: noop,
    description: "bench",
    every: 60_000,
  });
  await tl.close();
  const db = new BetterSqlite3(file);
  const now = Date.now();
  /** `count` tasks from id `firstId`, created 10 ms apart from `from`; every `runEvery`-th one a run of the schedule (null: none). */
  const insert = (count, from, firstId, runEvery) => {
    // Rows like a worker's: the model task's columns, finished 5 ms after they started.
    db.prepare(
      `with recursive n(i) as (select 0 union all select i + 1 from n where i < ?)
       insert into tasks (id, name, description, owner, queue, priority, status, failed, progress, payload,
         result, attempts, max_attempts, retry, timeout_ms, created_at, updated_at, started_at, finished_at,
         run_at, worker_id, schedule_id, slot_at)
       select ? + n.i, t.name, t.description, t.owner, t.queue, t.priority, 'finished', 0, 100,
         json_object('n', n.i), 'true', 1, t.max_attempts, t.retry, t.timeout_ms, ? + n.i * 10,
         ? + n.i * 10 + 6, ? + n.i * 10 + 1, ? + n.i * 10 + 6, ? + n.i * 10, 'bench-worker',
         case when n.i % ? = 0 then ? end, case when n.i % ? = 0 then ? + n.i * 10 end
       from n, tasks t where t.id = ?`,
    ).run(count - 1, firstId, from, from, from, from, from, runEvery, schedule.id, runEvery, from, model.id);
    db.prepare(
      `with recursive n(i) as (select 0 union all select i + 1 from n where i < ?),
         k(k) as (values (0), (1), (2))
       insert into notifications (owner, name, task_id, data, created_at)
       select 'bench', case k when 2 then 'task_finished' else 'task_progress' end, ? + n.i,
         case k
           when 0 then json_object('taskId', ? + n.i, 'progress', 0, 'status', 'running')
           when 1 then json_object('taskId', ? + n.i, 'progress', 100, 'status', 'finished')
           else json_object('taskId', ? + n.i, 'name', 'bench_noop', 'status', 'finished', 'failed', json('false'))
         end,
         ? + n.i * 10 + case k when 0 then 1 else 6 end
       from n, k order by n.i, k.k`,
    ).run(count - 1, firstId, firstId, firstId, firstId, from);
  };
  db.transaction(() => {
    insert(OLD, now - 60 * DAY, model.id + 1, null);
    insert(YOUNG, now - DAY, model.id + 1 + OLD, YOUNG / RUNS);
    db.prepare("delete from tasks where id = ?").run(model.id);
  })();
  db.close();
}

function copyOf(template) {
  const copy = tempDatabase("tl-prune-");
  copyFileSync(template, copy.file);
  return copy;
}

/** The pass removed what was expected, and `tasks` tasks with their three notifications each are left. */
function check(file, report, expected, tasks) {
  const db = new BetterSqlite3(file, { readonly: true });
  const one = (sql) => db.prepare(sql).pluck().get();
  const left = {
    tasks: one("select count(*) from tasks"),
    notifications: one("select count(*) from notifications"),
  };
  db.close();
  if (
    left.tasks !== tasks ||
    left.notifications !== 3 * tasks ||
    JSON.stringify(report) !== JSON.stringify(expected)
  ) {
    say(`NOT pruned as expected: ${JSON.stringify(report)}, left ${JSON.stringify(left)}`);
    process.exitCode = 1;
  }
}
