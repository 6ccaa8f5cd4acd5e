// The ledger's own cost on each database — SQLite (the embedded file), PostgreSQL 15, MariaDB
// 10.11 — with no engine: what any engine's worker must write per task, and the read behind an
// owner's task list. PostgreSQL and MariaDB are started by this benchmark with production
// durability (bench/services.js), or given by TASKLEDGER_BENCH_POSTGRES_URL / _MYSQL_URL; a
// dialect whose server is missing is skipped, saying why. TL_BENCH_DIALECTS=sqlite,postgres runs
// only those.
//
// The floor: N queued tasks (inserted first, not measured), then rounds as a worker writes them —
// one transaction settles (success) the 10 tasks started in the previous round and starts 10 more
// (ledger.settleOutcomes + ledger.startAttempts, and the 3 notifications a task gets, written by one
// insert at the round's end as a worker's round writes them), until all are done. tasks/s = N / time. The `floor_4x` variant runs 4 such loops at once on disjoint tasks,
// each on its own connection: a server commits many transactions at once (group commit).
//
// The owner list: an owner's newest 50 of 1,000,000 tasks (1,000 owners of skewed sizes, mixed
// statuses), as the HTTP API and the dashboard read it (queries.listTasks), p50/p95 over 200 reads
// of owners picked at random, beside the target.
//
// Metrics: ledger.floor.<dialect>.tasks_per_s, ledger.floor_4x.<dialect>.tasks_per_s,
// ledger.owner_list_1m.<dialect>.p95_ms.
import { pathToFileURL } from "node:url";
import { sql } from "kysely";
import { openDatabase } from "../dist/index.js";
import { insertNotifications, insertTasks, settleOutcomes, startAttempts } from "../dist/ledger/ledger.js";
import { ledgerMigrations, runMigrations } from "../dist/ledger/migrations.js";
import { listTasks } from "../dist/ledger/queries.js";
import { analyze, fillTasks } from "./ledger-data.js";
import { emit, percentile, round, say, summary, tempDatabase } from "./lib.js";
import { dropDatabases, freshDatabase, startService, stopAll } from "./services.js";

const FLOOR_TASKS = Number(process.env.TL_BENCH_LEDGER_TASKS ?? 20_000);
const ROUND = 10;
const LOOPS = 4;
const LIST_TASKS = Number(process.env.TL_BENCH_LIST_TASKS ?? 1_000_000);
const OWNERS = 1_000;
const READS = 200;
const LIST_TARGET_MS = 20;
/** What the design measured for the PostgreSQL ledger alone (docs: design/scale-out.md §4). */
const BASELINES = { postgres: "3300–3900 tasks/s (scale-out.md §4: PG, rounds of 10, fsync on)" };
const SQLITE_DURABILITY =
  "WAL, synchronous=NORMAL (the ledger's own setting: a commit survives a process crash)";

const DIALECTS = (process.env.TL_BENCH_DIALECTS ?? "sqlite,postgres,mysql").split(",").map((d) => d.trim());

// Run as a benchmark; imported (bench/bullmq-servers.js), it only lends its floor.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  try {
    for (const dialect of DIALECTS) await bench(dialect);
  } finally {
    await dropDatabases();
    await stopAll();
  }
  process.exit(process.exitCode ?? 0);
}

async function bench(dialect) {
  const server = dialect === "sqlite" ? undefined : await startService(dialect);
  if (server?.skipped) {
    process.stderr.write(`\n  *** ledger on ${dialect} SKIPPED: ${server.skipped} ***\n\n`);
    for (const metric of [`floor.${dialect}`, `floor_4x.${dialect}`])
      emit(`ledger.${metric}.tasks_per_s`, null, "tasks/s", { skipped: server.skipped });
    emit(`ledger.owner_list_1m.${dialect}.p95_ms`, null, "ms", { skipped: server.skipped });
    return;
  }
  const about = server
    ? { server: server.version, durability: server.durability }
    : { durability: SQLITE_DURABILITY };
  say(`${dialect}: ${server ? `${server.version}, ` : ""}durability: ${about.durability}`);
  const fresh = async () => (server ? freshDatabase(server) : tempDatabase("tl-ledger-").url);

  for (const loops of [1, LOOPS]) {
    const perSecond = await floor(await fresh(), dialect, loops);
    const metric = `ledger.${loops === 1 ? "floor" : `floor_${loops}x`}.${dialect}.tasks_per_s`;
    const baseline = loops === 1 ? BASELINES[dialect] : undefined;
    say(`${metric}: ${round(perSecond, 0)} tasks/s${baseline ? ` (baseline ${baseline})` : ""}`);
    emit(metric, perSecond, "tasks/s", {
      tasks: FLOOR_TASKS,
      round: ROUND,
      loops,
      // SQLite has one writer: its loops take turns on the one connection.
      connections: dialect === "sqlite" ? 1 : loops,
      notifications_per_task: 3,
      ...(baseline ? { baseline } : {}),
      ...about,
    });
  }

  const list = await ownerList(await fresh(), dialect);
  const metric = `ledger.owner_list_1m.${dialect}.p95_ms`;
  const p95 = percentile(list.times, 95);
  say(
    `${metric}: p50 ${round(percentile(list.times, 50))} ms, p95 ${round(p95)} ms (target ≤ ${LIST_TARGET_MS} ms)`,
  );
  emit(metric, p95, "ms", {
    ...summary(list.times),
    target: `≤ ${LIST_TARGET_MS} ms`,
    within_target: p95 <= LIST_TARGET_MS,
    tasks: LIST_TASKS,
    owners: OWNERS,
    owner_sizes: list.sizes,
    load_s: round(list.loadSeconds, 1),
    ...about,
  });
}

async function open(url, dialect, poolSize = LOOPS + 1) {
  const database = openDatabase(url, { poolSize });
  await runMigrations(database.db, ledgerMigrations(dialect), "taskledger_migrations");
  return database;
}

/** The write floor with `loops` workers at once, on a fresh database at `url`; tasks/s. */
export async function floor(url, dialect, loops = 1) {
  const database = await open(url, dialect);
  try {
    const queued = await queue(database, FLOOR_TASKS);
    const share = Math.ceil(queued.length / loops);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: loops }, (_, n) =>
        worker(database, `bench-${n}`, queued.slice(n * share, (n + 1) * share)),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    await verify(database, FLOOR_TASKS, `${dialect} floor (${loops} connection(s))`);
    return FLOOR_TASKS / seconds;
  } finally {
    await database.close();
  }
}

/** Insert `count` queued tasks through the ledger's own insert, 1,000 per transaction; their ids. */
async function queue(database, count) {
  const ids = [];
  const now = Date.now();
  for (let at = 0; at < count; at += 1_000) {
    const rows = Array.from({ length: Math.min(1_000, count - at) }, (_, i) => ({
      name: "bench_noop",
      description: "bench no-op",
      owner: `user${(at + i) % 100}`,
      queue: "default",
      priority: 0,
      status: "queued",
      payload: JSON.stringify({ n: at + i }),
      maxAttempts: 1,
      retry: '{"kind":"none"}',
      timeoutMs: 60_000,
      reservedAt: null,
    }));
    const inserted = await database.transaction((tx) => insertTasks(tx, rows, now));
    ids.push(...inserted.map((row) => Number(row.id)));
  }
  return ids;
}

/** One worker's rounds: settle the previous round's tasks and start the next ones, one transaction each. */
async function worker(database, name, ids) {
  let running = [];
  for (let at = 0; at < ids.length || running.length > 0; at += ROUND) {
    const next = ids.slice(at, at + ROUND);
    const settling = running;
    await database.transaction(async (tx) => {
      const now = Date.now();
      const outcomes = settling.map((id) => ({ kind: "success", id, attempts: 1, result: "true" }));
      // As a worker's round writes them: the round's notifications in one statement, at its end.
      const notes = [];
      const settled = await settleOutcomes(tx, outcomes, now, notes);
      const begun = await startAttempts(
        tx,
        next.map((id) => ({ id, attempt: 1 })),
        now,
        { worker: name, leaseUntil: now + 60_000 },
        notes,
      );
      await insertNotifications(tx, notes, now);
      if (settled.value.length !== settling.length || begun.value.length !== next.length)
        throw new Error(
          `${name}: settled ${settled.value.length}/${settling.length}, started ${begun.value.length}/${next.length}`,
        );
    });
    running = next;
  }
}

/** Every task finished once, with its 3 notifications. */
async function verify(database, count, what) {
  const one = async (query) => Number((await query.execute(database.db)).rows[0].n);
  const finished = await one(
    sql`select count(*) as n from tasks where status = 'finished' and failed = 0 and attempts = 1 and progress = 100`,
  );
  const notes = await one(sql`select count(*) as n from notifications`);
  if (finished !== count || notes !== 3 * count)
    throw new Error(
      `${what}: ${finished} of ${count} tasks finished, ${notes} notifications (expected ${3 * count})`,
    );
}

/** Load 1,000,000 tasks server-side, ANALYZE, then time an owner's newest 50. */
async function ownerList(url, dialect) {
  const database = await open(url, dialect, 2);
  try {
    const loaded = performance.now();
    await fillTasks(database, { count: LIST_TASKS, owners: OWNERS });
    await analyze(database);
    const loadSeconds = (performance.now() - loaded) / 1000;
    say(`${dialect}: ${LIST_TASKS} tasks loaded and analyzed in ${round(loadSeconds, 1)} s`);
    const { sizes, count } = await ownerSizes(database);
    const random = lcg(42);
    const pick = () => `user${Math.floor(random() * OWNERS)}`;
    const read = async (owner) => {
      const started = performance.now();
      const rows = await listTasks(database.db, { owner, limit: 50 });
      const ms = performance.now() - started;
      if (rows.length !== Math.min(50, count.get(owner) ?? 0) || rows.some((row) => row.owner !== owner))
        throw new Error(`${dialect}: ${owner}'s list gave ${rows.length} rows`);
      return ms;
    };
    for (let i = 0; i < 20; i++) await read(pick()); // warm-up: connections, plans
    const times = [];
    for (let i = 0; i < READS; i++) times.push(await read(pick()));
    return { times, sizes, loadSeconds };
  } finally {
    await database.close();
  }
}

async function ownerSizes(database) {
  const { rows } = await sql`select owner, count(*) as n from tasks group by owner`.execute(database.db);
  const count = new Map(rows.map((r) => [r.owner, Number(r.n)]));
  const sizes = [...count.values()].sort((a, b) => a - b);
  return {
    count,
    sizes: { owners: sizes.length, smallest: sizes[0], median: percentile(sizes, 50), largest: sizes.at(-1) },
  };
}

/** A seeded pseudo-random generator: the same owners are read in every run. */
function lcg(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}
