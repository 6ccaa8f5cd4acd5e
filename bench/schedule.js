// Schedules: how late a due slot becomes a run row with 1,000 active schedules on a real clock,
// and how long `register` takes for 1,000 declared schedules.
//
// Lateness is `tasks.created_at − tasks.slot_at` of every run: from the slot's due time to the
// transaction that writes its row (the worker's own pickup is reported beside it, not in it).
// The schedules fire every 10 s, their starts spread 10 ms apart: 100 slots a second. Beside it,
// the worst case: all 1,000 on one cron pattern, due at the same instant.
//
// Metrics: schedule.slot_lateness.p50_ms, schedule.slot_lateness.p99_ms, schedule.register_1000.ms,
// schedule.burst_1000_committed.ms (the worst of three bursts).
import BetterSqlite3 from "better-sqlite3";
import { createTaskledger } from "../dist/index.js";
import { emit, round, say, sleep, summary, tempDatabase } from "./lib.js";
import { benchTasks, noop } from "./tasks.js";

const SCHEDULES = Number(process.env.TL_BENCH_SCHEDULES ?? 1_000);
const EVERY_MS = 10_000;
const DURATION_MS = Number(process.env.TL_BENCH_SCHEDULE_MS ?? 20_000);
const WARMUP_MS = 1_000;

/** 1,000 declared schedules: half intervals, half cron expressions in a few time zones. */
function entries(count, prefix = "s") {
  const zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Seoul"];
  return Array.from({ length: count }, (_, i) =>
    i % 2 === 0
      ? {
          key: `${prefix}-${i}`,
          task: noop,
          description: `interval ${i}`,
          payload: { i },
          every: 60_000 + i * 1_000,
        }
      : {
          key: `${prefix}-${i}`,
          task: noop,
          description: `cron ${i}`,
          payload: { i },
          cron: `${i % 60} */2 * * *`,
          tz: zones[i % 4],
        },
  );
}

async function registerThousand() {
  const warm = createTaskledger({ database: tempDatabase().url, tasks: benchTasks });
  await warm.schedules.register(entries(200, "warm"));
  await warm.close();

  const tl = createTaskledger({ database: tempDatabase().url, tasks: benchTasks });
  await tl.migrate();
  const list = entries(SCHEDULES);
  let started = performance.now();
  const added = await tl.schedules.register(list);
  const ms = performance.now() - started;
  started = performance.now();
  const again = await tl.schedules.register(list);
  const keptMs = performance.now() - started;
  await tl.close();
  if (added.added.length !== SCHEDULES || again.kept.length !== SCHEDULES) {
    say(
      `register: expected ${SCHEDULES} added then kept, got ${added.added.length} and ${again.kept.length}`,
    );
    process.exitCode = 1;
  }
  say(`register ${SCHEDULES} new schedules: ${round(ms)} ms; again, unchanged: ${round(keptMs)} ms`);
  emit("schedule.register_1000.ms", ms, "ms", { schedules: SCHEDULES, unchanged_ms: round(keptMs) });
}

/**
 * Runs `list` (1,000 schedules) with a worker and its scheduler in this process until `until`,
 * then reads the lateness of every run due in [from, until − 1 s) from the ledger (earlier
 * slots warm up; later ones may be fired after the worker stopped taking runs).
 */
async function lateness(list, from, until, watched = []) {
  const { url, file } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.schedules.register(list);
  const worker = tl.createWorker({ concurrency: 10, withScheduler: true });
  await worker.start();
  const visible = [];
  for (const slot of watched) visible.push(await untilVisible(file, slot, list.length));
  await sleep(until - Date.now());
  await worker.stop();
  await tl.close();

  const db = new BetterSqlite3(file, { readonly: true });
  const rows = db
    .prepare(
      "select slot_at, created_at, started_at, status, failed from tasks where schedule_id is not null and slot_at >= ? and slot_at < ?",
    )
    .all(from, until - 1_000);
  const all = db.prepare("select count(*) from tasks where schedule_id is not null").pluck().get();
  db.close();
  const bad = rows.filter((r) => r.status !== "finished" || r.failed !== 0).length;
  if (bad > 0) {
    say(`${bad} runs not finished ok (skipped or failed)`);
    process.exitCode = 1;
  }
  return {
    visible,
    runs: rows.length,
    all,
    created: summary(rows.map((r) => r.created_at - r.slot_at)),
    started: summary(rows.map((r) => r.started_at - r.slot_at)),
  };
}

/**
 * When all `count` runs of `slot` are committed, seen from another connection (polled every
 * millisecond from the slot on): ms after the slot.
 */
async function untilVisible(file, slot, count) {
  const db = new BetterSqlite3(file, { readonly: true });
  const query = db.prepare("select count(*) from tasks where slot_at = ?").pluck();
  try {
    await sleep(slot - Date.now());
    while (query.get(slot) < count) await sleep(1);
    return Date.now() - slot;
  } finally {
    db.close();
  }
}

/** 100 slots a second: interval schedules every 10 s, their starts 10 ms apart. */
async function spread() {
  const base = Date.now() + 2_000;
  const list = Array.from({ length: SCHEDULES }, (_, i) => ({
    key: `every-10s-${i}`,
    task: noop,
    description: "bench",
    every: EVERY_MS,
    startAt: base + Math.floor((i * EVERY_MS) / SCHEDULES),
  }));
  const r = await lateness(list, base + WARMUP_MS, base + DURATION_MS);
  say(
    `slot lateness, spread (${r.runs} runs of ${SCHEDULES} schedules): p50 ${r.created.p50_ms} ms, p99 ${r.created.p99_ms} ms, max ${r.created.max_ms} ms; to the handler's start: p50 ${r.started.p50_ms} ms, p99 ${r.started.p99_ms} ms`,
  );
  const extra = {
    ...r.created,
    schedules: SCHEDULES,
    every_ms: EVERY_MS,
    started_p50_ms: r.started.p50_ms,
    started_p99_ms: r.started.p99_ms,
  };
  emit("schedule.slot_lateness.p50_ms", r.created.p50_ms, "ms", extra);
  emit("schedule.slot_lateness.p99_ms", r.created.p99_ms, "ms", extra);
}

/** The worst case: all 1,000 on one cron pattern, due at the same instant every 10 s. */
async function burst() {
  const list = Array.from({ length: SCHEDULES }, (_, i) => ({
    key: `burst-${i}`,
    task: noop,
    description: "bench",
    cron: "*/10 * * * * *",
  }));
  const from = Math.ceil((Date.now() + 2_000) / EVERY_MS) * EVERY_MS;
  const slots = [from, from + EVERY_MS, from + 2 * EVERY_MS];
  const r = await lateness(list, from, from + 3 * EVERY_MS + 1_000, slots);
  const last = Math.max(...r.visible);
  say(
    `1000 due at once: all ${SCHEDULES} run rows committed ${r.visible.join(", ")} ms after their slot; handler starts p50 ${r.started.p50_ms} ms, p99 ${r.started.p99_ms} ms (10 at a time)`,
  );
  emit("schedule.burst_1000_committed.ms", last, "ms", {
    bursts_ms: r.visible,
    schedules: SCHEDULES,
    started_p99_ms: r.started.p99_ms,
  });
}

await registerThousand();
await spread();
await burst();
