import { createRequire } from "node:module";
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect } from "kysely";
import { invalid, TaskledgerError } from "../core/errors.js";
import { MYSQL, POSTGRES } from "./capabilities.js";
import type { Database, OpenOptions } from "./database.js";
import type { LedgerDatabase } from "./schema.js";

/**
 * Ledgers on a database server: PostgreSQL over `pg`, MySQL/MariaDB over `mysql2`, each a pool of
 * connections. The drivers are optional peer dependencies, loaded when a URL asks for them: an app
 * on SQLite installs neither.
 */

const require = createRequire(import.meta.url);

/** Load an optional driver, or say which package to install. */
function driver<T>(name: string, forUrl: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") {
      throw new TaskledgerError(
        "unavailable",
        `database: a ${forUrl} ledger needs the "${name}" package: npm install ${name}`,
        { field: "database", cause: error },
      );
    }
    throw error;
  }
}

const DEFAULT_POOL_SIZE = 10;

function poolSize(options: OpenOptions): number {
  const size = options.poolSize ?? DEFAULT_POOL_SIZE;
  if (!Number.isInteger(size) || size < 1) throw invalid("poolSize", "must be a positive integer");
  return size;
}

/** Database name from a server URL, for `ledger.location` (never the password). */
function describe(url: URL): string {
  return `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ""}${url.pathname}`;
}

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw invalid("database", `not a valid URL: ${url.replace(/\/\/[^@/]*@/, "//…@")}`);
  }
}

interface PgModule {
  Pool: new (
    config: object,
  ) => {
    end(): Promise<void>;
    on(event: "error", listener: (error: Error) => void): void;
    on(
      event: "connect",
      listener: (client: { on(event: "error", listener: () => void): void }) => void,
    ): void;
  };
  types: { getTypeParser(oid: number, format?: string): (value: string) => unknown };
}

/** PostgreSQL type ids read as JavaScript numbers: int8 (ids, epoch ms, counts) and numeric (sums). */
const INT8 = 20;
const NUMERIC = 1700;

export function openPostgres(url: string, options: OpenOptions): Database {
  const parsed = parse(url);
  const pg = driver<PgModule>("pg", "postgres");
  const toNumber = (value: string) => Number(value);
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize(options),
    // Times are epoch milliseconds and ids stay far below 2^53: int8 as a number is exact here,
    // and a Map keyed by id finds it. Per pool, not the driver's global parsers.
    types: {
      getTypeParser: (oid: number, format?: string) =>
        oid === INT8 || oid === NUMERIC ? toNumber : pg.types.getTypeParser(oid, format),
    },
  });
  // An idle connection the server dropped is reported here; the pool replaces it on next use.
  pool.on("error", () => {});
  // A connection checked out between two statements (a transaction waiting on Redis) reports a
  // server shutdown on itself, and its next statement fails: without a listener the process died.
  pool.on("connect", (client) => client.on("error", () => {}));
  const db = new Kysely<LedgerDatabase>({
    dialect: new PostgresDialect({ pool: pool as never }),
  });
  return serverDatabase("postgres", db, describe(parsed), POSTGRES, url);
}

interface Mysql2Module {
  createPool(config: object): { end(callback?: (error?: Error) => void): void };
}

export function openMysql(url: string, options: OpenOptions): Database {
  const parsed = parse(url);
  const mysql = driver<Mysql2Module>("mysql2", "mysql");
  if (parsed.pathname.length <= 1)
    throw invalid("database", "a mysql:// URL names its database: mysql://user:pass@host/DB");
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: poolSize(options),
    // Text as the ledger wrote it (4-byte characters included), sums as numbers.
    charset: "utf8mb4",
    decimalNumbers: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  const db = new Kysely<LedgerDatabase>({
    dialect: new MysqlDialect({
      pool: pool as never,
      // READ COMMITTED, as on PostgreSQL: a locking read sees the latest committed row, and
      // inserts next to each other (ids, the idempotency index) take no gap locks that deadlock.
      onCreateConnection: async (connection) => {
        await connection.executeQuery(
          CompiledQuery.raw("set session transaction isolation level read committed"),
        );
      },
    }),
  });
  return serverDatabase("mysql", db, describe(parsed), MYSQL, url);
}

function serverDatabase(
  dialect: "postgres" | "mysql",
  db: Kysely<LedgerDatabase>,
  identity: string,
  capabilities: Database["capabilities"],
  url: string,
): Database {
  return {
    url,
    dialect,
    db,
    file: undefined,
    identity,
    sqlite: undefined,
    capabilities,
    transaction: (fn) => retried(() => db.transaction().execute(fn)),
    close: () => db.destroy(),
  };
}

/** Tries of a transaction the server rolled back to break a deadlock or a serialization conflict. */
const CONFLICT_TRIES = 5;

/**
 * Run a transaction again when the server chose it as a deadlock's victim (it was rolled back
 * whole, so running it again is safe: the ledger's transactions act on nothing outside the
 * database before they commit); a server that cannot be reached is `unavailable` (HTTP 503).
 */
async function retried<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (isConflict(error) && attempt < CONFLICT_TRIES) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
        continue;
      }
      throw serverError(error);
    }
  }
}

/** PostgreSQL: deadlock_detected, serialization_failure. MySQL: ER_LOCK_DEADLOCK. */
function isConflict(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown };
  return e?.code === "40P01" || e?.code === "40001" || e?.errno === 1213;
}

const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "PROTOCOL_CONNECTION_LOST",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

/** A server that cannot be reached (or is going away) is `unavailable`: the caller may try again. */
export function serverError(error: unknown): unknown {
  if (error instanceof TaskledgerError) return error;
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const unreachable =
    UNREACHABLE.has(code) ||
    code.startsWith("08") ||
    /Connection terminated|connection is in closed state|Pool is closed/i.test(String(e?.message));
  if (!unreachable) return error;
  return new TaskledgerError(
    "unavailable",
    `the ledger's database cannot be reached (${code || String(e.message)})`,
    {
      cause: error,
    },
  );
}
