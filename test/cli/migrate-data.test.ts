import { existsSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Task, type Taskledger } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { type Database, openDatabase } from "../../src/ledger/database.js";
import { startAttempts, upsertWorker } from "../../src/ledger/ledger.js";
import { hasLedgerTables } from "../../src/ledger/migrations.js";
import { createScheduler } from "../../src/scheduler/scheduler.js";
import { DIALECTS, type DialectName, freshDatabaseUrl, skipped } from "../helpers/dialects.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { json, run } from "./cli.js";

/**
 * `taskledger migrate-data` run as a process: a SQLite ledger with tasks in every status, a
 * schedule with runs, notifications and a large payload of 4-byte characters is copied into an
 * empty SQLite, PostgreSQL and MariaDB ledger, and read back through the library, row for row.
 */
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });
const fails = defineTask({
  name: "fails",
  retry: 0,
  run: () => {
    throw new Error("it failed: 🙂");
  },
});
/** Its own queue, which the fixture's worker does not serve: its task is started by hand. */
const held = defineTask({ name: "held", queue: "held", run: () => null });
const TASKS = [echo, fails, held];
const COPIED = ["scheduled_tasks", "tasks", "notifications"] as const;

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const handle of opened.splice(0).reverse()) await handle.close();
});

function ledger(url: string, dialect: DialectName): Taskledger {
  // The embedded engine runs on SQLite only: a server ledger enqueues through the in-process one.
  const tl = createTaskledger({
    database: url,
    tasks: TASKS,
    pollIntervalMs: 20,
    shutdownGraceMs: 500,
    ...(dialect === "sqlite" ? {} : { engine: "memory" as const }),
  });
  opened.push(tl);
  return tl;
}

function database(url: string): Database {
  const db = openDatabase(url, { create: false });
  opened.push(db);
  return db;
}

const BIG = { text: "🙂 ünïcode 𝄞 ".repeat(8_000) }; // ~ 110 KB of JSON: MySQL's TEXT would cut it

interface Source {
  readonly url: string;
  readonly file: string;
  readonly cwd: string;
  /** The id of the newest task, deleted before the copy: the target must never hand it out again. */
  readonly deletedId: number;
}

/**
 * A SQLite ledger made by the library with the embedded engine: finished, failed, canceled,
 * queued, reserved and running tasks (the running one held by a worker that is gone, the lease
 * still valid), a schedule with two runs, notifications, a worker row and the scheduler's lease.
 */
async function sourceLedger(): Promise<Source> {
  const cwd = tempDir();
  const file = `${cwd}/source.db`;
  const url = `sqlite:${file}`;
  const tl = createTaskledger({ database: url, tasks: TASKS, pollIntervalMs: 20, shutdownGraceMs: 500 });
  const rt = runtimeOf(tl);
  await tl.schedules.schedule({
    key: "digest",
    task: echo,
    payload: { digest: "📰" },
    description: "digest",
    every: 1_000,
  });
  const scheduler = createScheduler(rt, tl.schedules);
  await scheduler.tick();

  await tl.tasks.enqueue(echo, BIG, { description: "large 🙂", owner: "alice" });
  await tl.tasks.enqueue(echo, 1, { description: "a", owner: "Alice", idempotencyKey: "Key" });
  await tl.tasks.enqueue(echo, 2, { description: "b", owner: "alice", idempotencyKey: "Key", priority: 5 });
  await tl.tasks.enqueue(fails, null, { description: "fails" });
  const canceled = await tl.tasks.enqueue(echo, null, { description: "canceled" });
  await tl.tasks.cancel(canceled.id);
  const worker = tl.createWorker({ queues: ["high", "default"] });
  await worker.start();
  await waitFor(async () => (await tl.tasks.list({ status: ["queued"] })).length === 0, {
    message: "all run",
  });
  await waitFor(async () => (await tl.schedules.get("digest"))?.runCount === 1, { message: "run counted" });
  const next = (await tl.schedules.get("digest"))!.nextRunAt!.getTime();
  await waitFor(() => Date.now() >= next, { message: "the next slot" });
  await scheduler.tick();
  await waitFor(async () => (await tl.schedules.runs("digest", { status: "finished" })).length === 2, {
    message: "second run",
  });
  await worker.stop();

  await tl.tasks.enqueue(echo, { waits: true }, { description: "queued" });
  await tl.tasks.reserve(
    Date.now() + 3_600_000,
    echo,
    { later: true },
    { description: "reserved", owner: "bob" },
  );
  // A worker claimed this one and vanished: running, its lease valid for ten minutes.
  await tl.tasks.enqueue(held, null, { description: "running" });
  await rt.transaction(async (tx) => {
    const taken = await rt.engine.take({ worker: "gone", queues: ["held"], limit: 1, now: Date.now() }, tx);
    await startAttempts(tx, taken, Date.now(), { worker: "gone", leaseUntil: Date.now() + 600_000 });
  });
  await upsertWorker(
    rt.db,
    { id: "w-live", host: "h", pid: 1, queues: ["default"], concurrency: 1 },
    Date.now(),
  );
  const last = await tl.tasks.enqueue(echo, null, { description: "deleted" });
  await tl.close();
  const raw = new BetterSqlite3(file);
  raw.prepare("delete from tasks where id = ?").run(last.id);
  raw.close();
  return { url, file, cwd, deletedId: last.id };
}

/** Every task, newest first, through the library's list (pages by cursor). */
async function allTasks(tl: Taskledger): Promise<Task[]> {
  const tasks: Task[] = [];
  for (;;) {
    const page = await tl.tasks.list({ limit: 100, cursor: tasks.at(-1)?.id });
    tasks.push(...page);
    if (page.length < 100) return tasks;
  }
}

async function rows(db: Database, table: string): Promise<Record<string, unknown>[]> {
  return (await (db.db as any).selectFrom(table).selectAll().orderBy("id").execute()) as Record<
    string,
    unknown
  >[];
}

async function counts(db: Database): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [...COPIED, "workers", "leases"]) {
    const row = await (db.db as any)
      .selectFrom(table)
      .select((eb: any) => eb.fn.countAll().as("n"))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

const migrateData = (source: Source, to: string, ...more: string[]) =>
  run(["migrate-data", "--from", source.url, "--to", to, ...more], { cwd: source.cwd, database: null });

for (const dialect of DIALECTS) {
  describe.skipIf(skipped(dialect))(`taskledger migrate-data: SQLite → ${dialect.name}`, () => {
    let source: Source;
    let target: string;
    beforeEach(async () => {
      source = await sourceLedger();
      target =
        dialect.name === "sqlite" ? `sqlite:${source.cwd}/target.db` : await freshDatabaseUrl(dialect.name);
    });

    it("copies every row with its id, reads back equal field by field, and new ids follow the copied ones", async () => {
      const copied = await migrateData(source, target, "--json");
      expect(copied.code, copied.stderr).toBe(0);
      const report = json(copied);
      const from = database(source.url);
      const before = await counts(from);
      expect(report).toMatchObject({
        dryRun: false,
        verified: true,
        from: source.file,
        tables: COPIED.map((table) => ({ table, rows: before[table], copied: before[table] })),
        skipped: [
          { table: "workers", rows: 1 },
          { table: "leases", rows: 1 },
        ],
        source: { liveWorkers: 1, runningTasks: 1 },
      });
      expect(report.warnings).toEqual([
        expect.stringContaining("1 worker was live on the source"),
        expect.stringContaining("1 task was running on the source: copied as running"),
      ]);
      expect(typeof report.ms).toBe("number");
      const tasksReport = report.tables.find((t: { table: string }) => t.table === "tasks");
      expect(tasksReport.idsFrom).toBe(source.deletedId);

      const to = database(target);
      expect(await counts(to)).toEqual({ ...before, workers: 0, leases: 0 });
      for (const table of COPIED) expect(await rows(to, table), table).toEqual(await rows(from, table));

      // The same through the library's reads.
      const a = ledger(source.url, "sqlite");
      const b = ledger(target, dialect.name);
      const tasks = await allTasks(a);
      expect(new Set(tasks.map((t) => t.status))).toEqual(
        new Set(["finished", "canceled", "queued", "reserved", "running"]),
      );
      expect(tasks.some((t) => t.failed)).toBe(true);
      expect(await allTasks(b)).toEqual(tasks);
      for (const task of tasks) expect(await b.tasks.get(task.id)).toEqual(task);
      const large = tasks.find((t) => t.description === "large 🙂")!;
      expect((await b.tasks.get(large.id))!.result).toEqual(BIG);
      expect(await b.schedules.list()).toEqual(await a.schedules.list());
      const runs = await a.schedules.runs("digest");
      expect(runs).toHaveLength(2);
      expect(await b.schedules.runs("digest")).toEqual(runs);
      const notes = await a.notifications.after(undefined, 0, 100);
      expect(notes.length).toBeGreaterThan(5);
      expect(await b.notifications.after(undefined, 0, 100)).toEqual(notes);

      // New rows on the target take ids past every id the source handed out (the deleted one too).
      const task = await b.tasks.reserve(Date.now() + 3_600_000, echo, null, { description: "new" });
      expect(task.id).toBe(source.deletedId + 1);
      const schedule = await b.schedules.schedule({
        key: "new",
        task: echo,
        payload: null,
        description: "n",
        every: 60_000,
      });
      expect(schedule.id).toBe(Math.max(...(await a.schedules.list()).map((s) => s.id)) + 1);
      expect(await b.notifications.lastId()).toBeGreaterThan(notes.at(-1)!.id);
    });

    it("refuses a target that holds a row, naming the table and count, and writes nothing", async () => {
      const b = ledger(target, dialect.name);
      await b.tasks.enqueue(echo, null, { description: "already here" });
      await b.close();
      const to = database(target);
      const before = await counts(to);
      const refused = await migrateData(source, target);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("the target's tasks table holds 1 row");
      expect(await counts(to)).toEqual(before);
      expect(await rows(to, "tasks")).toHaveLength(1);
    });

    it("--dry-run counts what would be copied and writes nothing, not even the target's tables", async () => {
      const dry = await migrateData(source, target, "--dry-run", "--json");
      expect(dry.code, dry.stderr).toBe(0);
      const from = database(source.url);
      const before = await counts(from);
      expect(json(dry)).toMatchObject({
        dryRun: true,
        verified: false,
        tables: COPIED.map((table) => ({ table, rows: before[table], copied: 0 })),
      });
      if (dialect.name === "sqlite") expect(existsSync(`${source.cwd}/target.db`)).toBe(false);
      else expect(await hasLedgerTables(database(target).db, dialect.name)).toBe(false);

      const human = await migrateData(source, target, "--dry-run");
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/^tasks\s+\d+\s+\d+$/m);
      expect(human.stdout).toContain("Dry run: nothing written.");
    });
  });
}

describe.skipIf(skipped("postgres") || skipped("mysql"))("taskledger migrate-data between servers", () => {
  it("copies SQLite → PostgreSQL → MySQL → SQLite, every row equal at each step, ids never reused", async () => {
    const source = await sourceLedger();
    const chain = [
      source.url,
      await freshDatabaseUrl("postgres"),
      await freshDatabaseUrl("mysql"),
      `sqlite:${source.cwd}/back.db`,
    ];
    const original = database(source.url);
    for (let i = 1; i < chain.length; i++) {
      const step = await run(["migrate-data", "--from", chain[i - 1]!, "--to", chain[i]!, "--json"], {
        cwd: source.cwd,
        database: null,
      });
      expect(step.code, step.stderr).toBe(0);
      expect(json(step).tables.find((t: { table: string }) => t.table === "tasks").idsFrom).toBe(
        source.deletedId,
      );
      const copy = database(chain[i]!);
      for (const table of COPIED)
        expect(await rows(copy, table), `${chain[i]} ${table}`).toEqual(await rows(original, table));
    }
    const back = ledger(chain.at(-1)!, "sqlite");
    expect((await back.tasks.enqueue(echo, null, { description: "after the trip" })).id).toBe(
      source.deletedId + 1,
    );
  });
});

describe("taskledger migrate-data", () => {
  it("prints a line per table, the tables left behind and the warnings; --help says what it does", async () => {
    const source = await sourceLedger();
    const copied = await migrateData(source, `sqlite:${source.cwd}/copy.db`);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toMatch(/^ {2}tasks +\d+ rows {2}\d+ ms$/m);
    expect(copied.stdout).toContain("Not copied: workers (1 row), leases (1 row)");
    expect(copied.stdout).toContain("! 1 task was running on the source");
    expect(copied.stdout).toContain(
      "Verified: scheduled_tasks, tasks, notifications have the same row counts",
    );

    const help = await run(["migrate-data", "--help"], { cwd: source.cwd, database: null });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: taskledger migrate-data --from URL --to URL [options]");
    expect(help.stdout).toContain("--dry-run");
  });

  it("refuses a source behind the current version, saying to migrate it first; a missing source is not created", async () => {
    const source = await sourceLedger();
    const raw = new BetterSqlite3(source.file);
    raw
      .prepare("delete from taskledger_migrations where name = (select max(name) from taskledger_migrations)")
      .run();
    raw.close();
    const behind = await migrateData(source, `sqlite:${source.cwd}/copy.db`);
    expect(behind.code).toBe(1);
    expect(behind.stderr).toContain(`run \`taskledger migrate --database sqlite:${source.file}\` first`);

    const missing = await run(["migrate-data", "--from", "sqlite:nothing.db", "--to", "sqlite:copy2.db"], {
      cwd: source.cwd,
      database: null,
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("from: no ledger at");
    expect(existsSync(`${source.cwd}/nothing.db`)).toBe(false);
    expect(existsSync(`${source.cwd}/copy2.db`)).toBe(false);

    const usage = await run(["migrate-data", "--from", source.url], { cwd: source.cwd, database: null });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("needs --to URL");
  });
});
