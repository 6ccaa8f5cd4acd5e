import { type Kysely, type RawBuilder, type SelectQueryBuilder, sql } from "kysely";
import { invalid, TaskledgerError } from "../core/errors.js";
import type { Database, DialectName } from "./database.js";
import { hasLedgerTables, ledgerMigrations, runMigrations } from "./migrations.js";

/**
 * Copy one ledger into another (SQLite → PostgreSQL or MySQL, or between any two): the
 * `taskledger migrate-data` command. The source is read in one read-only snapshot, by primary key
 * windows; the target is written in batches, a transaction each; ids are kept, and the target's id
 * generators are moved past them. Nothing is merged: the target must be empty.
 */

/** What is copied, parents first: a task's `schedule_id` names a row of `scheduled_tasks`. */
export const COPIED_TABLES = ["scheduled_tasks", "tasks", "notifications"] as const;
/** Rows of live processes: meaningless on another database (each process writes its own again). */
export const SKIPPED_TABLES = ["workers", "leases"] as const;
const LEDGER_TABLES = [...COPIED_TABLES, ...SKIPPED_TABLES] as const;
const MIGRATIONS_TABLE = "taskledger_migrations";

export type CopiedTable = (typeof COPIED_TABLES)[number];

export interface InspectOptions {
  /** Epoch ms, for which workers count as live on the source. Default `Date.now()`. */
  readonly now?: number;
  /** A worker seen within this many ms counts as live. Default 30,000 (the default `leaseMs`). */
  readonly liveWithinMs?: number;
}

export interface CopyOptions extends InspectOptions {
  /** Rows read and written per transaction. Default 1,000. */
  readonly batchSize?: number;
  /** A table was copied. */
  readonly onTable?: (table: TableCopy) => void;
}

export interface TableCopy {
  readonly table: CopiedTable;
  /** Rows on the source (in the snapshot), and copied (equal once verified; 0 on a dry run). */
  readonly rows: number;
  readonly copied: number;
  /** The highest id on the source, null when the table is empty. */
  readonly maxId: number | null;
  /** The target's next id for this table is above this (the source's highest id ever handed out). */
  readonly idsFrom: number;
  readonly ms: number;
}

export interface CopyReport {
  readonly dryRun: boolean;
  readonly from: string;
  /** Null on a dry run whose target does not exist yet. */
  readonly to: string | null;
  readonly tables: readonly TableCopy[];
  /** Tables left behind, with their rows on the source. */
  readonly skipped: readonly { readonly table: string; readonly rows: number }[];
  /** What the source was doing: work in flight is copied as it was at the snapshot. */
  readonly source: { readonly liveWorkers: number; readonly runningTasks: number };
  readonly ms: number;
}

const DEFAULT_BATCH = 1_000;
/**
 * One INSERT carries at most about this many characters of row text: a batch of large payloads
 * (each up to `maxJsonBytes`) stays under a server's packet limit (MariaDB's is 16 MB by default).
 */
const STATEMENT_CHARS = 2_000_000;

type AnyDb = Kysely<any>;
type Row = Record<string, unknown>;

/**
 * Copy every ledger row of `from` into `to`, which is migrated first and must hold none.
 * Refuses a source that is not at this version's last migration, and a target whose ledger
 * tables hold rows (naming the table and its count). Verifies at the end that each table has the
 * same row count and highest id on both sides. A copy that fails halfway leaves the target
 * partly written: empty it before running again.
 *
 * ```ts
 * const from = openDatabase("sqlite:taskledger.db");
 * const to = openDatabase("postgres://app@db.internal/app");
 * const report = await copyLedger(from, to, { onTable: (t) => console.log(t.table, t.copied) });
 * ```
 */
export function copyLedger(from: Database, to: Database, options: CopyOptions = {}): Promise<CopyReport> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalid("batchSize", "must be a positive integer");
  return run(from, to, options, batchSize);
}

/**
 * What `copyLedger` would copy, with the same checks, writing nothing: `to` is not migrated, and
 * may be left out where it does not exist yet (a SQLite file to be created).
 */
export function planCopy(
  from: Database,
  to: Database | undefined,
  options: InspectOptions = {},
): Promise<CopyReport> {
  return run(from, to, options, undefined);
}

/** One pass for both: a plan when `batchSize` is undefined. */
async function run(
  from: Database,
  to: Database | undefined,
  options: CopyOptions,
  batchSize: number | undefined,
): Promise<CopyReport> {
  const started = performance.now();
  const dryRun = batchSize === undefined;
  if (from.identity === to?.identity)
    throw invalid("to", `the source and the target are the same database (${from.identity})`);
  await checkSourceVersion(from);
  if (to && !dryRun) await runMigrations(to.db, ledgerMigrations(to.dialect), MIGRATIONS_TABLE);
  if (to) await checkTargetEmpty(to);

  return inSnapshot(from, async (source) => {
    const now = options.now ?? Date.now();
    const counted = await Promise.all(LEDGER_TABLES.map((table) => tableStats(source, table)));
    const stats = new Map(LEDGER_TABLES.map((table, i) => [table, counted[i]!]));
    const liveWorkers = await count(
      source.selectFrom("workers").where("last_seen_at", ">", now - (options.liveWithinMs ?? 30_000)),
    );
    const runningTasks = await count(source.selectFrom("tasks").where("status", "=", "running"));

    const tables: TableCopy[] = [];
    for (const table of COPIED_TABLES) {
      const { rows, maxId } = stats.get(table)!;
      const idsFrom = Math.max(maxId ?? 0, await highestIdEver(source, from.dialect, table));
      const tableStarted = performance.now();
      let copied = 0;
      if (to && batchSize !== undefined) {
        copied = await copyTable(source, to, table, batchSize);
        await moveIdsPast(to, table, idsFrom);
      }
      const copy = { table, rows, copied, maxId, idsFrom, ms: Math.round(performance.now() - tableStarted) };
      tables.push(copy);
      if (!dryRun) options.onTable?.(copy);
    }
    if (to && !dryRun) await verify(to, tables);
    return {
      dryRun,
      from: from.file ?? from.identity,
      to: to ? (to.file ?? to.identity) : null,
      tables,
      skipped: SKIPPED_TABLES.map((table) => ({ table, rows: stats.get(table)!.rows })),
      source: { liveWorkers, runningTasks },
      ms: Math.round(performance.now() - started),
    };
  });
}

/** The source must be a ledger at exactly this version's migrations: its columns are the target's. */
async function checkSourceVersion(from: Database): Promise<void> {
  const expected = Object.keys(ledgerMigrations(from.dialect)).sort();
  const applied = (await tableExists(from.db, from.dialect, MIGRATIONS_TABLE))
    ? (await sql<{ name: string }>`select name from ${sql.table(MIGRATIONS_TABLE)}`.execute(from.db)).rows
        .map((r) => r.name)
        .sort()
    : [];
  if (applied.length === 0 || !(await hasLedgerTables(from.db, from.dialect)))
    throw new TaskledgerError("not_found", `from: ${from.file ?? from.identity} holds no taskledger ledger`, {
      field: "from",
    });
  const unknown = applied.filter((name) => !expected.includes(name));
  if (unknown.length > 0)
    throw new TaskledgerError(
      "conflict",
      `from: the source ledger has migrations this version of taskledger does not know (${unknown.join(", ")}): copy it with the version that wrote it`,
      { field: "from" },
    );
  const pending = expected.filter((name) => !applied.includes(name));
  if (pending.length > 0)
    throw new TaskledgerError(
      "conflict",
      `from: the source ledger is not at the current version (${pending.join(", ")} pending): run \`taskledger migrate --database ${from.file ? `sqlite:${from.file}` : "SOURCE"}\` first`,
      { field: "from" },
    );
}

/** Refuse a target that holds anything: a copy never merges. */
async function checkTargetEmpty(to: Database): Promise<void> {
  // A dry run leaves a target without tables as it is: empty, then.
  if (!(await hasLedgerTables(to.db, to.dialect))) return;
  for (const table of LEDGER_TABLES) {
    const rows = await count(to.db.selectFrom(table));
    if (rows > 0)
      throw new TaskledgerError(
        "conflict",
        `to: the target's ${table} table holds ${rows.toLocaleString("en-US")} ${rows === 1 ? "row" : "rows"}; a ledger is copied into an empty one only — empty it (or give a new database) and run again`,
        { field: "to" },
      );
  }
}

/**
 * Run `fn` on one connection of the source in a read-only snapshot: every table is read as of
 * one moment, so a task never names a schedule the copy lacks, even while the source is in use.
 * On SQLite a deferred BEGIN (WAL readers never block writers), on a server REPEATABLE READ.
 */
async function inSnapshot<T>(from: Database, fn: (source: AnyDb) => Promise<T>): Promise<T> {
  return (from.db as AnyDb).connection().execute(async (source) => {
    const begin: RawBuilder<unknown>[] =
      from.dialect === "sqlite"
        ? [sql`begin`]
        : from.dialect === "postgres"
          ? [sql`begin isolation level repeatable read read only`]
          : [
              sql`set transaction isolation level repeatable read`,
              sql`start transaction with consistent snapshot, read only`,
            ];
    for (const statement of begin) await statement.execute(source);
    try {
      const result = await fn(source);
      await sql`commit`.execute(source);
      return result;
    } catch (error) {
      await sql`rollback`.execute(source).catch(() => {});
      throw error;
    }
  });
}

/** Copy one table by primary key windows; returns the rows written. */
async function copyTable(
  source: AnyDb,
  to: Database,
  table: CopiedTable,
  batchSize: number,
): Promise<number> {
  let after = 0;
  let copied = 0;
  for (;;) {
    const rows = (await source
      .selectFrom(table)
      .selectAll()
      .where("id", ">", after)
      .orderBy("id")
      .limit(batchSize)
      .execute()) as Row[];
    if (rows.length === 0) break;
    await to.transaction(async (tx) => {
      for (const chunk of bySize(rows)) await (tx as AnyDb).insertInto(table).values(chunk).execute();
    });
    copied += rows.length;
    after = Number(rows.at(-1)!.id);
    if (rows.length < batchSize) break;
  }
  return copied;
}

/** Rows in consecutive chunks of at most `STATEMENT_CHARS` characters of text (one row at least). */
function* bySize(rows: readonly Row[]): Generator<Row[]> {
  let chunk: Row[] = [];
  let chars = 0;
  for (const row of rows) {
    let size = 0;
    for (const key in row) {
      const value = row[key];
      size += typeof value === "string" ? value.length : 8;
    }
    if (chunk.length > 0 && chars + size > STATEMENT_CHARS) {
      yield chunk;
      chunk = [];
      chars = 0;
    }
    chunk.push(row);
    chars += size;
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * The highest id the source ever gave this table (above its highest row when the newest rows were
 * pruned or deleted), so the target never hands out an id that once named another row.
 */
async function highestIdEver(source: AnyDb, dialect: DialectName, table: CopiedTable): Promise<number> {
  const { rows } =
    dialect === "sqlite"
      ? await sql<{ n: number | null }>`select seq as n from sqlite_sequence where name = ${table}`.execute(
          source,
        )
      : dialect === "postgres"
        ? await sql<{
            n: number | null;
          }>`select pg_sequence_last_value(pg_get_serial_sequence(${table}, 'id')::regclass) as n`.execute(
            source,
          )
        : // MySQL may show a cached value here (information_schema stats): never above the truth.
          await sql<{ n: number | null }>`select auto_increment - 1 as n from information_schema.tables
            where table_schema = database() and table_name = ${table}`.execute(source);
  return Number(rows[0]?.n ?? 0);
}

/** The target's next id for `table` is `high + 1` at least. */
async function moveIdsPast(to: Database, table: CopiedTable, high: number): Promise<void> {
  if (high < 1) return;
  const db = to.db as AnyDb;
  if (to.dialect === "postgres") {
    await sql`select setval(pg_get_serial_sequence(${table}, 'id'), ${high})`.execute(db);
  } else if (to.dialect === "mysql") {
    // InnoDB never lowers it below max(id) + 1; ALTER takes no bound parameters.
    await sql`alter table ${sql.table(table)} auto_increment = ${sql.raw(String(Math.trunc(high) + 1))}`.execute(
      db,
    );
  } else {
    await to.transaction(async (tx) => {
      const updated =
        await sql`update sqlite_sequence set seq = max(seq, ${high}) where name = ${table}`.execute(tx);
      if (Number(updated.numAffectedRows ?? 0) === 0)
        await sql`insert into sqlite_sequence (name, seq) values (${table}, ${high})`.execute(tx);
    });
  }
}

/** Each copied table has on the target the rows and highest id it had in the source's snapshot. */
async function verify(to: Database, tables: readonly TableCopy[]): Promise<void> {
  for (const { table, rows, maxId } of tables) {
    const target = await tableStats(to.db as AnyDb, table);
    if (target.rows !== rows || target.maxId !== maxId)
      throw new TaskledgerError(
        "conflict",
        `the copy does not match its source: ${table} has ${target.rows} rows (highest id ${target.maxId}) on the target, ${rows} (highest id ${maxId}) on the source`,
      );
  }
}

async function tableStats(db: AnyDb, table: string): Promise<{ rows: number; maxId: number | null }> {
  // workers and leases are keyed by name: their count is all that is reported.
  const keyed = (COPIED_TABLES as readonly string[]).includes(table);
  const row = await db
    .selectFrom(table)
    .select((eb) => [
      eb.fn.countAll().as("rows"),
      keyed ? eb.fn.max("id").as("max_id") : sql<null>`null`.as("max_id"),
    ])
    .executeTakeFirstOrThrow();
  return { rows: Number(row.rows), maxId: row.max_id === null ? null : Number(row.max_id) };
}

async function count(query: SelectQueryBuilder<any, any, object>): Promise<number> {
  const row = await query.select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
  return Number(row.n);
}

async function tableExists(db: AnyDb, dialect: DialectName, table: string): Promise<boolean> {
  const { rows } =
    dialect === "sqlite"
      ? await sql<{
          n: number;
        }>`select count(*) as n from sqlite_master where type = 'table' and name = ${table}`.execute(db)
      : await sql<{ n: number }>`select count(*) as n from information_schema.tables
          where table_schema = ${dialect === "postgres" ? sql`current_schema()` : sql`database()`} and table_name = ${table}`.execute(
          db,
        );
  return Number(rows[0]?.n ?? 0) > 0;
}
