import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach } from "vitest";

/**
 * A fresh directory (and so a fresh SQLite file) per test, removed afterwards. Tests import the
 * library from `src/` through vitest; processes spawned by tests run `dist/`.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = "tl-test-"): string {
  const root = join(tmpdir(), "taskledger-tests");
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, prefix));
  dirs.push(dir);
  return dir;
}

/** A fresh database URL in its own directory. */
export function tempDatabase(): { url: string; file: string; dir: string } {
  const dir = tempDir();
  const file = join(dir, "ledger.db");
  return { url: `sqlite:${file}`, file, dir };
}

/** Wait for a condition, polling; fails with `message` after `timeoutMs`. Never a fixed sleep. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 10, message = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${message}${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Row counts of every table, read through a separate connection (what is really on disk). */
/** Tasks still in the embedded queue: waiting to be claimed (queued, reserved) or held by a worker (running). */
export function inQueue(file: string): number {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (
      db
        .prepare("select count(*) as n from tasks where status in ('queued', 'reserved', 'running')")
        .get() as {
        n: number;
      }
    ).n;
  } finally {
    db.close();
  }
}

export function tableCounts(file: string): Record<string, number> {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const tables = db
      .prepare(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'taskledger_%'",
      )
      .all() as { name: string }[];
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      counts[name] = (db.prepare(`select count(*) as n from "${name}"`).get() as { n: number }).n;
    }
    return counts;
  } finally {
    db.close();
  }
}

/**
 * Row counts of every ledger table, read through a connection of its own (what is really stored):
 * `where` is a SQLite file path or a server URL (a fixture's `file` is one or the other).
 */
export async function ledgerCounts(where: string): Promise<Record<string, number>> {
  if (!/^(postgres|postgresql|mysql):\/\//.test(where)) return tableCounts(where);
  const { openDatabase } = await import("../../src/ledger/database.js");
  const { sql } = await import("kysely");
  const database = openDatabase(where);
  try {
    const schema = database.dialect === "postgres" ? sql`current_schema()` : sql`database()`;
    const { rows } = await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_schema = ${schema} and table_type = 'BASE TABLE' and table_name not like 'taskledger%'`.execute(
      database.db,
    );
    const counts: Record<string, number> = {};
    for (const { name } of rows) {
      const { rows: n } = await sql<{ n: number }>`select count(*) as n from ${sql.table(name)}`.execute(
        database.db,
      );
      counts[name] = Number(n[0]!.n);
    }
    return counts;
  } finally {
    await database.close();
  }
}

/** Tasks waiting (queued, reserved) or held (running), read through a connection of its own. */
export async function waitingCount(where: string): Promise<number> {
  if (!/^(postgres|postgresql|mysql):\/\//.test(where)) return inQueue(where);
  const { openDatabase } = await import("../../src/ledger/database.js");
  const database = openDatabase(where);
  try {
    const row = await database.db
      .selectFrom("tasks")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("status", "in", ["queued", "reserved", "running"])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  } finally {
    await database.close();
  }
}

const isServer = (where: string) => /^(postgres|postgresql|mysql):\/\//.test(where);

/**
 * Run SQL on a ledger through a connection of its own (what is really stored): `where` is a SQLite
 * file or a server URL; `?` placeholders on every dialect. Rows as the driver gives them.
 */
export async function rawRows<T = Record<string, unknown>>(
  where: string,
  text: string,
  ...params: unknown[]
): Promise<T[]> {
  if (!isServer(where)) {
    const db = new BetterSqlite3(where, { timeout: 5_000 });
    try {
      const statement = db.prepare(text);
      if (statement.reader) return statement.all(...params) as T[];
      statement.run(...params);
      return [];
    } finally {
      db.close();
    }
  }
  const { openDatabase } = await import("../../src/ledger/database.js");
  const { CompiledQuery } = await import("kysely");
  const database = openDatabase(where);
  try {
    let n = 0;
    const compiled = database.dialect === "postgres" ? text.replace(/\?/g, () => `$${++n}`) : text;
    const { rows } = await database.db.executeQuery(CompiledQuery.raw(compiled, params));
    return rows as T[];
  } finally {
    await database.close();
  }
}

/** The first column of each row (`select count(*) …` → `[n]`), as numbers where they are numeric. */
export async function rawColumn<T = number>(where: string, text: string, ...params: unknown[]): Promise<T[]> {
  const rows = await rawRows(where, text, ...params);
  return rows.map((row) => {
    const value = Object.values(row)[0];
    return (typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value) as T;
  });
}
