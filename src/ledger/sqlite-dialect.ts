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
import { TaskledgerError } from "../core/errors.js";
import { BACKSTOP_PAGES, type Checkpointer, startCheckpointer } from "./checkpointer.js";
import { NumberedParameters } from "./compiled.js";

/**
 * Kysely's SQLite dialect with changes that matter for a queue:
 * - transactions start with `BEGIN IMMEDIATE`, so a writer takes the lock up front and waits
 *   instead of failing with SQLITE_BUSY when it upgrades from reader to writer; the wait is
 *   asynchronous past a few milliseconds, so a held lock never stalls the process's event loop;
 * - storage faults (lock held past the busy timeout, full disk, I/O errors) are `unavailable`;
 * - prepared statements are cached by SQL text, so hot queries are compiled by SQLite once;
 * - once a file database is busy, WAL checkpoints move to a background thread (checkpointer.ts);
 * - migrations run in a transaction (see `LedgerSqliteAdapter`);
 * - `transactions(db)` runs the ledger's own transactions without Kysely's per-transaction objects.
 */
export class BetterSqliteDialect implements Dialect {
  readonly #db: BetterSqlite3.Database;
  readonly #checkpointThread: boolean;
  #driver: BetterSqliteDriver | undefined;
  readonly #busyTimeoutMs: number;
  constructor(db: BetterSqlite3.Database, { checkpointThread = true, busyTimeoutMs = 30_000 } = {}) {
    this.#db = db;
    this.#checkpointThread = checkpointThread;
    this.#busyTimeoutMs = busyTimeoutMs;
  }
  createDriver(): Driver {
    this.#driver = new BetterSqliteDriver(this.#db, this.#checkpointThread, this.#busyTimeoutMs);
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

/**
 * How long one try may wait for another connection's lock inside SQLite. That wait blocks the
 * event loop (better-sqlite3 is synchronous), so it is kept short: past it, the wait goes on
 * asynchronously (`#retryBusy`) up to the configured busy timeout, and the process keeps serving.
 */
export const SYNC_BUSY_MS = 10;
/** Pause between tries while the lock stays held: doubles up to this. */
const BUSY_PAUSE_MAX_MS = 25;

class BetterSqliteConnection implements DatabaseConnection {
  readonly #db: BetterSqlite3.Database;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  /** When the lock was first refused in the current streak of refusals. */
  #busySince: number | undefined;

  constructor(db: BetterSqlite3.Database, busyTimeoutMs: number) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
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
      const result = this.#execute<R>(compiledQuery);
      this.#busySince = undefined;
      return Promise.resolve(result);
    } catch (error) {
      if (isBusy(error)) return this.#retryBusy<R>(compiledQuery);
      return Promise.reject(storageError(error, this.#db.name));
    }
  }

  #execute<R>(compiledQuery: CompiledQuery): QueryResult<R> {
    const stmt = this.#prepare(compiledQuery.sql);
    const [first] = compiledQuery.parameters;
    const parameters =
      first instanceof NumberedParameters ? first.values : (compiledQuery.parameters as unknown[]);
    if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
    const { changes, lastInsertRowid } = stmt.run(parameters);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  /**
   * Another connection holds the lock: try again after short pauses, without blocking the event
   * loop. The timeout counts from the first refusal of this streak, so that queries queued behind
   * one that waited (this connection serves one at a time) do not each wait the whole timeout again.
   */
  async #retryBusy<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    this.#busySince ??= Date.now();
    const since = this.#busySince;
    let pause = 1;
    for (;;) {
      const left = this.#busyTimeoutMs - SYNC_BUSY_MS - (Date.now() - since);
      if (left <= 0) {
        throw new TaskledgerError(
          "unavailable",
          `the ledger is locked: another connection held its write lock for over ${this.#busyTimeoutMs} ms (busyTimeoutMs) — ${this.#db.name}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      pause = Math.min(pause * 2, BUSY_PAUSE_MAX_MS);
      try {
        const result = this.#execute<R>(compiledQuery);
        this.#busySince = undefined;
        return result;
      } catch (error) {
        if (!isBusy(error)) throw storageError(error, this.#db.name);
      }
    }
  }

  // biome-ignore lint/correctness/useYield: streaming is not used by taskledger
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("streaming is not supported by the taskledger SQLite driver");
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code === "SQLITE_BUSY_SNAPSHOT";
}

/** What SQLite says of the storage itself, as the one error type; anything else passes unchanged. */
function storageError(error: unknown, file: string): unknown {
  const code = String((error as { code?: unknown })?.code ?? "");
  const message = (error as Error)?.message ?? String(error);
  const say = (what: string) =>
    new TaskledgerError("unavailable", `${what} (${code}: ${message}) — ${file}`, { cause: error });
  if (code === "SQLITE_FULL") return say("the disk holding the ledger is full");
  if (code.startsWith("SQLITE_IOERR")) return say("the ledger's file could not be read or written");
  if (code.startsWith("SQLITE_READONLY")) return say("the ledger's file is read-only here");
  if (code.startsWith("SQLITE_CANTOPEN")) return say("the ledger's file cannot be opened");
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB")
    return say("the ledger's file is damaged");
  return error;
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

  constructor(db: BetterSqlite3.Database, checkpointThread: boolean, busyTimeoutMs: number) {
    this.#db = db;
    this.#connection = new BetterSqliteConnection(db, busyTimeoutMs);
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
