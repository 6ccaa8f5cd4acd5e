import type BetterSqlite3 from "better-sqlite3";
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";
import { BACKSTOP_PAGES, type Checkpointer, startCheckpointer } from "./checkpointer.js";

/**
 * Kysely's SQLite dialect with changes that matter for a queue:
 * - transactions start with `BEGIN IMMEDIATE`, so a writer takes the lock up front and waits
 *   (busy_timeout) instead of failing with SQLITE_BUSY when it upgrades from reader to writer;
 * - prepared statements are cached by SQL text, so hot queries are compiled by SQLite once;
 * - once a file database is busy, WAL checkpoints move to a background thread (checkpointer.ts);
 * - migrations run in a transaction (see `LedgerSqliteAdapter`).
 */
export class BetterSqliteDialect implements Dialect {
  readonly #db: BetterSqlite3.Database;
  readonly #checkpointThread: boolean;
  constructor(db: BetterSqlite3.Database, { checkpointThread = true } = {}) {
    this.#db = db;
    this.#checkpointThread = checkpointThread;
  }
  createDriver(): Driver {
    return new BetterSqliteDriver(this.#db, this.#checkpointThread);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new LedgerSqliteAdapter();
  }
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/**
 * SQLite's DDL is transactional. Kysely's SQLite adapter says otherwise, and takes no migration
 * lock (it assumes one process): then several processes starting on a new file each read which
 * migrations ran, and both run the same one. Declared transactional, Kysely's migrator reads that
 * state and runs what is pending inside one transaction — `BEGIN IMMEDIATE` here, so the write
 * lock is the migration lock across processes, and a failed migration leaves nothing half-made.
 */
class LedgerSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

const STATEMENT_CACHE_SIZE = 500;

class BetterSqliteConnection implements DatabaseConnection {
  readonly #db: BetterSqlite3.Database;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  #prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        this.#statements.delete(this.#statements.keys().next().value as string);
      }
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      const stmt = this.#prepare(compiledQuery.sql);
      const parameters = compiledQuery.parameters as unknown[];
      if (stmt.reader) return Promise.resolve({ rows: stmt.all(parameters) as R[] });
      const { changes, lastInsertRowid } = stmt.run(parameters);
      return Promise.resolve({
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
        rows: [],
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // biome-ignore lint/correctness/useYield: streaming is not used by taskledger
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("streaming is not supported by the taskledger SQLite driver");
  }
}

const BEGIN = CompiledQuery.raw("BEGIN IMMEDIATE");
const COMMIT = CompiledQuery.raw("COMMIT");
const ROLLBACK = CompiledQuery.raw("ROLLBACK");

/** Commits after which a file database counts as busy and gets its background checkpointer. */
const BUSY_AFTER_COMMITS = 256;
/** SQLite's own threshold, back in force should the thread fail. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1_000;

class BetterSqliteDriver implements Driver {
  readonly #db: BetterSqlite3.Database;
  readonly #connection: BetterSqliteConnection;
  #lock: Promise<void> | undefined;
  #unlock: (() => void) | undefined;
  #commits = 0;
  #checkpointer: Checkpointer | undefined;

  readonly #checkpointThread: boolean;

  constructor(db: BetterSqlite3.Database, checkpointThread: boolean) {
    this.#db = db;
    this.#connection = new BetterSqliteConnection(db);
    this.#checkpointThread = checkpointThread;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // One SQLite connection per instance: queries and transactions take turns.
    while (this.#lock) await this.#lock;
    this.#lock = new Promise((resolve) => {
      this.#unlock = resolve;
    });
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(BEGIN);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(COMMIT);
    if (++this.#commits === BUSY_AFTER_COMMITS && this.#checkpointThread) this.#startCheckpointer();
  }

  #startCheckpointer(): void {
    if (this.#db.memory || !this.#db.open || this.#db.pragma("journal_mode", { simple: true }) !== "wal")
      return;
    this.#checkpointer = startCheckpointer(this.#db.name, () => {
      if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    });
    this.#db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#db.inTransaction) await connection.executeQuery(ROLLBACK);
  }

  async releaseConnection(): Promise<void> {
    const unlock = this.#unlock;
    this.#lock = undefined;
    this.#unlock = undefined;
    unlock?.();
  }

  async destroy(): Promise<void> {
    // The thread's connection goes first, so that closing the last one folds the log back in.
    await this.#checkpointer?.stop();
    this.#checkpointer = undefined;
    if (this.#db.open) this.#db.close();
  }
}
