import type BetterSqlite3 from "better-sqlite3";
import {
  type Compilable,
  CompiledQuery,
  type ConnectionProvider,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type KyselyProps,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  Transaction,
} from "kysely";
import { BACKSTOP_PAGES, type Checkpointer, startCheckpointer } from "./checkpointer.js";
import { NumberedParameters } from "./compiled.js";

/**
 * Kysely's SQLite dialect with changes that matter for a queue:
 * - transactions start with `BEGIN IMMEDIATE`, so a writer takes the lock up front and waits
 *   (busy_timeout) instead of failing with SQLITE_BUSY when it upgrades from reader to writer;
 * - prepared statements are cached by SQL text, so hot queries are compiled by SQLite once;
 * - once a file database is busy, WAL checkpoints move to a background thread (checkpointer.ts);
 * - migrations run in a transaction (see `LedgerSqliteAdapter`);
 * - `transactions(db)` runs the ledger's own transactions without Kysely's per-transaction objects.
 */
export class BetterSqliteDialect implements Dialect {
  readonly #db: BetterSqlite3.Database;
  readonly #checkpointThread: boolean;
  #driver: BetterSqliteDriver | undefined;
  constructor(db: BetterSqlite3.Database, { checkpointThread = true } = {}) {
    this.#db = db;
    this.#checkpointThread = checkpointThread;
  }
  createDriver(): Driver {
    this.#driver = new BetterSqliteDriver(this.#db, this.#checkpointThread);
    return this.#driver;
  }

  /**
   * Transactions on `db` (the Kysely instance built on this dialect), for the ledger's hot paths:
   * Kysely's `transaction().execute()` builds a handle, executors and a connection provider each
   * time, and each query through them builds more — about half of an enqueue's JavaScript
   * (measured in memory: 17.5 → 12.7 µs an enqueue without them). Here one handle serves every
   * transaction: the driver holds its only connection for the duration, and the handle refuses
   * queries when no transaction is open.
   */
  transactions<DB>(db: Kysely<DB>): <T>(fn: (tx: Kysely<DB>) => Promise<T>) => Promise<T> {
    const driver = this.#driver;
    if (!driver) throw new Error("the dialect's driver is created by new Kysely({ dialect }) first");
    return driver.transactions(db, this);
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

/**
 * The reusable transaction handle. Query builders run through its executor; compiled statements
 * (`db.executeQuery`, which is how the hot paths in compiled.ts run) go straight to the
 * connection: there are no plugins whose results would need transforming.
 */
class LedgerTransaction<DB> extends Transaction<DB> {
  readonly #run: (query: CompiledQuery) => Promise<QueryResult<any>>;
  constructor(props: KyselyProps, run: (query: CompiledQuery) => Promise<QueryResult<any>>) {
    super(props);
    this.#run = run;
  }
  override executeQuery<R>(query: CompiledQuery<R> | Compilable<R>): Promise<QueryResult<R>> {
    return this.#run("compile" in query ? query.compile() : query) as Promise<QueryResult<R>>;
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
      const [first] = compiledQuery.parameters;
      const parameters =
        first instanceof NumberedParameters ? first.values : (compiledQuery.parameters as unknown[]);
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

  transactions<DB>(db: Kysely<DB>, dialect: Dialect): <T>(fn: (tx: Kysely<DB>) => Promise<T>) => Promise<T> {
    const connection = this.#connection;
    let open = false;
    const provider: ConnectionProvider = {
      provideConnection: (consume) =>
        open
          ? consume(connection)
          : Promise.reject(new Error("a query ran on a transaction that has ended (a missing await?)")),
    };
    const tx = new LedgerTransaction<DB>(
      {
        config: { dialect },
        dialect,
        driver: this,
        executor: db.getExecutor().withConnectionProvider(provider),
      },
      (query) => provider.provideConnection((c) => c.executeQuery(query)),
    );
    return async (fn) => {
      await this.acquireConnection();
      try {
        await this.beginTransaction(connection);
        open = true;
        try {
          const result = await fn(tx);
          open = false;
          await this.commitTransaction(connection);
          return result;
        } catch (error) {
          open = false;
          await this.rollbackTransaction(connection);
          throw error;
        }
      } finally {
        await this.releaseConnection();
      }
    };
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
