// Shared pieces of the benchmarks: output, temp databases, percentiles, child processes and the
// check that every task of a run was fully recorded.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";

/** One result line on stdout: `{"metric", "value", "unit", ...extra}`. */
export function emit(metric, value, unit, extra = {}) {
  process.stdout.write(`${JSON.stringify({ metric, value: round(value), unit, ...extra })}\n`);
}

/** Human-readable progress, on stderr. */
export function say(message) {
  process.stderr.write(`  ${message}\n`);
}

export function round(value, digits = 2) {
  if (typeof value !== "number" || !Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** High-resolution wall-clock milliseconds, comparable across processes on this machine. */
export const wallNow = () => performance.timeOrigin + performance.now();

export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function summary(values) {
  return {
    p50_ms: round(percentile(values, 50)),
    p99_ms: round(percentile(values, 99)),
    max_ms: round(Math.max(...values)),
    samples: values.length,
  };
}

const dirs = [];
process.on("exit", () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh SQLite file in its own directory, removed when the process exits. */
export function tempDatabase(prefix = "tl-bench-") {
  const root = join(tmpdir(), "taskledger-bench");
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, prefix));
  dirs.push(dir);
  const file = join(dir, "ledger.db");
  return { dir, file, url: `sqlite:${file}` };
}

export const rssMb = () => process.memoryUsage().rss / (1024 * 1024);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` until it returns something truthy (or throw after `timeoutMs`). */
export async function until(check, { timeoutMs = 60_000, intervalMs = 1, message = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await sleep(intervalMs);
  }
}

const CHILD = fileURLToPath(new URL("./worker-child.js", import.meta.url));

/**
 * A worker in another process (bench/worker-child.js). Its stdout JSON lines are events:
 * `next(predicate)` resolves with the first event (seen or to come) that matches.
 */
export function startWorkerChild(env) {
  // TL_BENCH_CHILD_ARGS: node options for the worker child only (e.g. "--cpu-prof --cpu-prof-dir=DIR").
  const args = (process.env.TL_BENCH_CHILD_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...args, CHILD], {
    env: { ...process.env, ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const events = [];
  const waiters = [];
  let buffer = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    buffer += chunk;
    const lines = buffer.split("\n");
    buffer = lines.pop();
    for (const line of lines) {
      if (!line.startsWith("{")) continue;
      const event = JSON.parse(line);
      const waiter = waiters.findIndex((w) => w.match(event));
      if (waiter >= 0) waiters.splice(waiter, 1)[0].resolve(event);
      else events.push(event);
    }
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  void exited.then((code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`worker child exited (${code}) before the event`));
  });
  return {
    child,
    exited,
    next(match, timeoutMs = 120_000) {
      const seen = events.findIndex(match);
      if (seen >= 0) return Promise.resolve(events.splice(seen, 1)[0]);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve, reject };
        waiters.push(waiter);
        setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) {
            waiters.splice(index, 1);
            reject(new Error("timed out waiting for a worker child event"));
          }
        }, timeoutMs).unref();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/**
 * Check that every task in the file ran once and was fully recorded: finished, not failed,
 * progress 100, a result, both timestamps, the two progress notifications (0 and 100) and the
 * `task_finished` one; the queue table empty. Returns a list of problems (empty when all is well).
 */
export function verifyRecorded(file, expected) {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const problems = [];
    const one = (sql) => db.prepare(sql).pluck().get();
    const total = one("select count(*) from tasks");
    if (total !== expected) problems.push(`${total} tasks, expected ${expected}`);
    const bad =
      one(`select count(*) from tasks where not (status = 'finished' and failed = 0 and progress = 100
      and result is not null and attempts = 1 and started_at is not null and finished_at is not null)`);
    if (bad > 0) problems.push(`${bad} tasks not recorded as finished with a result`);
    const notes = one(`select count(*) from (
        select task_id,
          sum(name = 'task_progress' and json_extract(data, '$.progress') = 0) as started,
          sum(name = 'task_progress' and json_extract(data, '$.progress') = 100) as ended,
          sum(name = 'task_finished') as finished,
          count(*) as n
        from notifications group by task_id)
      where started = 1 and ended = 1 and finished = 1 and n = 3`);
    if (notes !== expected)
      problems.push(`${notes} tasks with exactly their 3 notifications, expected ${expected}`);
    const held = one("select count(*) from tasks where status in ('queued', 'reserved', 'running')");
    if (held > 0) problems.push(`${held} tasks left queued or running`);
    return problems;
  } finally {
    db.close();
  }
}

/** Ends the benchmark process with a clear message when a run was not fully recorded. */
export function assertRecorded(file, expected, what) {
  const problems = verifyRecorded(file, expected);
  if (problems.length > 0) {
    say(`${what}: NOT fully recorded: ${problems.join("; ")}`);
    process.exitCode = 1;
    return false;
  }
  return true;
}

/**
 * Raw BullMQ, the baseline every tracked figure is read against: `jobs` no-op jobs added with
 * `addBulk` in batches of `batch` to queue `bench-process`, then drained by one Worker at
 * concurrency 10 (completed jobs kept, BullMQ's default, as the ledger keeps every record).
 * `bullmq` is the package or its `withBackend(…)` classes. Leaves the queue's jobs in place.
 */
export async function addBulkAndDrain({ Queue, Worker }, connection, jobs, batch) {
  const queue = new Queue("bench-process", { connection });
  const started = performance.now();
  for (let i = 0; i < jobs; i += batch) {
    await queue.addBulk(
      Array.from({ length: Math.min(batch, jobs - i) }, (_, j) => ({ name: "noop", data: { n: i + j } })),
    );
  }
  const addSeconds = (performance.now() - started) / 1000;
  let done = 0;
  let finish;
  const all = new Promise((resolve) => {
    finish = resolve;
  });
  const t0 = performance.now();
  const worker = new Worker("bench-process", async () => true, { connection, concurrency: 10 });
  worker.on("completed", () => {
    if (++done === jobs) finish();
  });
  await all;
  const seconds = (performance.now() - t0) / 1000;
  await worker.close();
  const completed = await queue.getCompletedCount();
  await queue.close();
  return { addSeconds, seconds, completed };
}

/**
 * Cross-process cancel: `samples` running tasks of `hold` (after 5 warm-up ones), each canceled
 * from this process once the worker child says it started; the ms from the cancel call to the
 * child's AbortSignal firing.
 */
export async function cancelLatencies(tl, worker, hold, samples) {
  const latencies = [];
  for (let i = 0; i < samples + 5; i++) {
    const task = await tl.tasks.enqueue(hold, { i }, { description: "cancel me", owner: "bench" });
    await worker.next((e) => e.event === "started" && e.id === task.id);
    // The round that started it has committed once the ledger says running.
    await until(async () => (await tl.tasks.get(task.id)).status === "running", { message: "running" });
    const sent = wallNow();
    const result = await tl.tasks.cancel(task.id);
    if (!result.ok) throw new Error(`cancel refused: ${result.reason}`);
    const { at } = await worker.next((e) => e.event === "aborted" && e.id === task.id);
    if (i >= 5) latencies.push(at - sent);
    await until(async () => (await tl.tasks.get(task.id)).status === "canceled", {
      message: `task ${task.id} canceled`,
    });
  }
  return latencies;
}
