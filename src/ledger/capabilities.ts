import { type Kysely, MysqlAdapter, PostgresAdapter, sql } from "kysely";

/**
 * What a ledger database can do, as the ledger's writes need to know it. Writes branch on these,
 * never on which database it is: a new dialect is a new record, not a new set of `if`s.
 */
export interface Capabilities {
  /** `UPDATE … RETURNING` (else: lock the rows by id, update them, read them again). */
  readonly updateReturning: boolean;
  /** `INSERT … RETURNING` (else: one row per statement, its id from the driver). */
  readonly insertReturning: boolean;
  /**
   * The rows of one multi-row INSERT get consecutive ids, the last one known (SQLite: one writer
   * holds the file). Else ids come from RETURNING, or one row per statement.
   */
  readonly consecutiveInsertIds: boolean;
  /** How an insert that may meet an existing key is written. */
  readonly upsert: "on conflict" | "on duplicate key";
  /** `CREATE INDEX … WHERE` (else the index holds every row). */
  readonly partialIndexes: boolean;
  /** DDL inside a transaction (else each migration step must be safe to run again). */
  readonly transactionalDdl: boolean;
  /** `SELECT … FOR UPDATE SKIP LOCKED`. */
  readonly skipLocked: boolean;
  /** `LISTEN`/`NOTIFY` between connections. */
  readonly listenNotify: boolean;
  /**
   * Bound parameters need an explicit type where the statement gives none (the values of a
   * `CASE`): PostgreSQL types an untyped parameter as text and then refuses `integer = text`.
   */
  readonly typedParameters: boolean;
  /**
   * The SQL type names for a cast of an integer and of a big integer (epoch ms, ids), where
   * `typedParameters` asks for one.
   */
  readonly integerType: string;
  readonly bigintType: string;
}

export const SQLITE: Capabilities = Object.freeze({
  updateReturning: true,
  insertReturning: true,
  consecutiveInsertIds: true,
  upsert: "on conflict",
  partialIndexes: true,
  transactionalDdl: true,
  skipLocked: false,
  listenNotify: false,
  typedParameters: false,
  integerType: "integer",
  bigintType: "integer",
});

export const POSTGRES: Capabilities = Object.freeze({
  updateReturning: true,
  insertReturning: true,
  consecutiveInsertIds: false,
  upsert: "on conflict",
  partialIndexes: true,
  transactionalDdl: true,
  skipLocked: true,
  listenNotify: true,
  typedParameters: true,
  integerType: "integer",
  bigintType: "bigint",
});

/**
 * MySQL 8 and MariaDB. MariaDB (10.5+) has `INSERT … RETURNING` but neither has
 * `UPDATE … RETURNING`; the common ground is taken for both, so a ledger behaves the same on either.
 */
export const MYSQL: Capabilities = Object.freeze({
  updateReturning: false,
  insertReturning: false,
  consecutiveInsertIds: false,
  upsert: "on duplicate key",
  partialIndexes: false,
  transactionalDdl: false,
  skipLocked: true,
  listenNotify: false,
  typedParameters: false,
  integerType: "signed",
  bigintType: "signed",
});

/** The capabilities of the database a Kysely handle (or one of its transactions) is on. */
export function capabilitiesOf(db: Kysely<any>): Capabilities {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return POSTGRES;
  if (adapter instanceof MysqlAdapter) return MYSQL;
  return SQLITE;
}

/** A bound value typed as an integer (`cast(? as integer)`) where the dialect needs it typed. */
export function typedInteger(db: Kysely<any>, value: unknown, big = false) {
  const caps = capabilitiesOf(db);
  if (!caps.typedParameters) return value;
  return sql`cast(${value} as ${sql.raw(big ? caps.bigintType : caps.integerType)})`;
}

/** A bound value typed as text where the dialect needs it typed. */
export function typedText(db: Kysely<any>, value: unknown) {
  return capabilitiesOf(db).typedParameters ? sql`cast(${value} as text)` : value;
}
