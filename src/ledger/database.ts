import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely } from "kysely";
import { invalid, TaskledgerError } from "../core/errors.js";
import { type Capabilities, SQLITE } from "./capabilities.js";
import type { LedgerDatabase } from "./schema.js";
import { openMysql, openPostgres } from "./servers.js";
import { BetterSqliteDialect, SYNC_BUSY_MS } from "./sqlite-dialect.js";

export type DialectName = "sqlite" | "postgres" | "mysql";

const PAGE_SIZE = 2048;

/** A connected ledger database: the Kysely handle plus what the dialect-specific code needs. */
export interface Database {
  readonly dialect: DialectName;
  readonly db: Kysely<LedgerDatabase>;
  /** Absolute file path for SQLite files (`undefined` for `:memory:` and servers). */
  readonly file: string | undefined;
  /** A stable name for this database, used to share in-process wake-ups. */
  readonly identity: string;
  /** The raw SQLite handle (embedded engine fast paths, pragmas). */
  readonly sqlite: BetterSqlite3.Database | undefined;
  /**
   * The URL a server ledger was opened from, credentials included — for connections of its own
   * (LISTEN, BullMQ's PostgreSQL backend); never printed (`identity` is the printable name).
   */
  readonly url?: string;
  /** What the database can do (RETURNING, upserts, partial indexes, …): the ledger's writes branch on it. */
  readonly capabilities: Capabilities;
  /** Run `fn` in one transaction (on SQLite `BEGIN IMMEDIATE`): committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Kysely<LedgerDatabase>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export const DEFAULT_DATABASE_URL = "sqlite:taskledger.db";

export interface OpenOptions {
  /**
   * How long a writer waits for another connection's lock, ms, before the call fails with
   * `unavailable` (HTTP 503). The wait does not block the event loop. Default 30 000.
   */
  readonly busyTimeoutMs?: number;
  /** Checkpoint the WAL on a background thread once the file is busy. Default true. */
  readonly checkpointThread?: boolean;
  /**
   * Create the file (and its folder) when it does not exist. Default true; with false, a missing
   * file is refused (`not_found`, field `database`) and nothing is created: a read in the wrong
   * folder does not leave an empty ledger behind.
   */
  readonly create?: boolean;
  /** Connections in the pool of a server ledger (PostgreSQL, MySQL). Default 10. */
  readonly poolSize?: number;
}

/**
 * Open a database from a URL: `sqlite:path/to/file.db`, `sqlite::memory:`, a bare `*.db` path,
 * `postgres://user:pass@host:5432/db` (the `pg` package), or `mysql://user:pass@host:3306/db`
 * (MySQL or MariaDB, the `mysql2` package).
 */
export function openDatabase(url: string = DEFAULT_DATABASE_URL, options: OpenOptions = {}): Database {
  if (typeof url !== "string" || url.trim() === "") throw invalid("database", "must be a database URL");
  const sqlitePath = parseSqliteUrl(url);
  if (sqlitePath === undefined) {
    if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, options);
    if (/^(mysql|mariadb):\/\//.test(url)) return openMysql(url.replace(/^mariadb:/, "mysql:"), options);
    throw invalid(
      "database",
      `unsupported URL "${url}" (expected sqlite:FILE, postgres://HOST/DB or mysql://HOST/DB)`,
    );
  }
  const memory = sqlitePath === ":memory:";
  const file = memory ? undefined : resolve(sqlitePath);
  if (file && options.create === false && !existsSync(file))
    throw new TaskledgerError("not_found", `database: no ledger at ${file}`, { field: "database" });
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    createPrivately(file);
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 30_000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw invalid("busyTimeoutMs", "must be a non-negative integer of milliseconds");
  // SQLite itself waits only briefly (it would block the event loop); the dialect waits the rest.
  const sqlite = new BetterSqlite3(file ?? ":memory:", { timeout: Math.min(busyTimeoutMs, SYNC_BUSY_MS) });
  // A new file gets 2 KiB pages (an existing one keeps its own). Each commit appends every page it
  // touched to the log, and a task's write touches a handful of B-tree leaves: halving the page
  // halves the bytes copied and checksummed per commit, about a third more commits per second.
  sqlite.pragma(`page_size = ${PAGE_SIZE}`);
  if (!memory) sqlite.pragma("journal_mode = WAL");
  // The log is reused from its start after each complete checkpoint; past this size it is also truncated.
  sqlite.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  // NORMAL in WAL mode: a commit survives a process crash; only a power loss can drop the last commits.
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  // better-sqlite3 raises SQLite's 2 MB page cache to 16 MB per connection. What a queue touches
  // again and again (index tails, the newest rows) fits in far less, and the OS caches the file
  // anyway: 8 MB keeps a worker's memory down without slowing its reads.
  sqlite.pragma(`cache_size = -${8 * 1024}`);
  const dialect = new BetterSqliteDialect(sqlite, {
    checkpointThread: options.checkpointThread,
    busyTimeoutMs,
  });
  const db = new Kysely<LedgerDatabase>({ dialect });
  return {
    dialect: "sqlite",
    db,
    file,
    identity: file ?? `memory:${Math.random().toString(36).slice(2)}`,
    sqlite,
    capabilities: SQLITE,
    transaction: dialect.transactions(db),
    close: () => db.destroy(),
  };
}

/**
 * A new ledger file is readable by its owner only (0600; SQLite gives its -wal and -shm the same
 * mode): it holds every payload and result. An existing file keeps the mode its owner chose.
 */
function createPrivately(file: string): void {
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

function parseSqliteUrl(url: string): string | undefined {
  if (url.startsWith("sqlite://")) return url.slice("sqlite://".length) || undefined;
  if (url.startsWith("sqlite:")) return url.slice("sqlite:".length) || undefined;
  if (url.startsWith("file:")) return url.slice("file:".length) || undefined;
  if (/\.(db|sqlite|sqlite3)$/.test(url) && !url.includes("://")) return url;
  return undefined;
}
