import { type Compilable, CompiledQuery, type Kysely, type QueryResult, sql } from "kysely";
import { capabilitiesOf } from "./capabilities.js";

/**
 * Statements on the hot path (claim, start, settle, enqueue) are built with Kysely once per
 * shape and dialect, then run again and again with new parameters: building and compiling a
 * query costs more than SQLite takes to run it. The builder places `arg(i)` where the i-th
 * argument goes; everything else it writes stays as it was compiled.
 *
 * ```ts
 * const byId = statement((db, arg) => db.selectFrom("tasks").selectAll().where("id", "=", arg(0)));
 * const { rows } = await byId.execute(db, [42]);
 * ```
 */
class Slot {
  constructor(readonly index: number) {}
}

type Arg = (index: number) => any;

interface Template {
  readonly compiled: CompiledQuery;
  readonly parameters: readonly unknown[];
}

export interface Statement {
  execute<R = any>(db: Kysely<any>, args: readonly unknown[]): Promise<QueryResult<R>>;
}

const argument: Arg = (index) => new Slot(index);

export function statement(build: (db: Kysely<any>, arg: Arg) => Compilable): Statement {
  // Keyed by the dialect's adapter, which a database and its transactions share.
  const templates = new WeakMap<object, Template>();
  return {
    execute<R>(db: Kysely<any>, args: readonly unknown[]) {
      const adapter = db.getExecutor().adapter;
      let template = templates.get(adapter);
      if (!template) {
        const compiled = build(db, argument).compile();
        template = { compiled, parameters: compiled.parameters };
        templates.set(adapter, template);
      }
      const parameters = template.parameters.map((p) => (p instanceof Slot ? args[p.index] : p));
      return db.executeQuery<R>({ ...template.compiled, parameters } as CompiledQuery<R>);
    },
  };
}

/** Statements whose shape depends on a row count (`IN` lists, multi-row `VALUES`). */
export function statementsBySize(
  build: (db: Kysely<any>, arg: Arg, size: number) => Compilable,
): (size: number) => Statement {
  const sizes = new Map<number, Statement>();
  return (size) => {
    let found = sizes.get(size);
    if (!found) {
      found = statement((db, arg) => build(db, arg, size));
      sizes.set(size, found);
    }
    return found;
  };
}

/**
 * Split `count` rows into chunks for statements of a bounded set of shapes: a small count is one
 * chunk of its own size; a large one takes power-of-two chunks (up to `max`) until it is small.
 */
export function chunkSizes(count: number, max: number): number[] {
  const sizes: number[] = [];
  let left = count;
  while (left > EXACT_UP_TO) {
    let size = max;
    while (size > left) size >>= 1;
    sizes.push(size);
    left -= size;
  }
  if (left > 0) sizes.push(left);
  return sizes;
}

const EXACT_UP_TO = 32;

/**
 * Parameters bound by number (`?1`, `?2`, …) rather than by position: a value referenced by many
 * rows of one statement is bound once. Only the SQLite connection (sqlite-dialect.ts) reads these.
 */
export class NumberedParameters {
  constructor(readonly values: Readonly<Record<number, unknown>>) {}
}

/** Rows per multi-row statement: SQLite allows 32 766 bound parameters, and this stays well below on every dialect. */
export const CHUNK = 256;

/** Distinct sets of varying columns kept per insert, beyond which a chunk binds every value per row. */
const MAX_SHAPES = 8;

/**
 * Multi-row inserts that give back the generated ids, in row order; rows are written in chunks
 * of at most `CHUNK`. `columns` are the bound columns, in the order of each row's values;
 * `literals` are SQL constants written into every row.
 *
 * On SQLite:
 * - a column holding the same value in every row of a chunk is bound once (`?N`, referenced by
 *   each row). Binding is most of a batch insert's cost — each value crosses from JavaScript into
 *   SQLite, strings converted and copied on the way — and the rows of one batch usually share most
 *   columns (a task's name, queue, retry policy, times; a notification's time): measured 2.6 →
 *   1.2 µs a task row in memory. Which columns vary makes a statement's shape: a few shapes are
 *   kept per insert, past those a chunk binds every value per row. One row is bound by position,
 *   the cheaper kind;
 * - ids are read off the last one: SQLite numbers the rows of one INSERT consecutively (one
 *   writer holds the file, and each new id is the largest so far + 1). `RETURNING` was measured
 *   at about a fifth of the cost of a batch insert.
 *
 * Other dialects bind every value and take the ids from `RETURNING`, in row order (ids rise
 * within one statement, but need not be consecutive: another transaction may take some between);
 * without `INSERT … RETURNING` (MySQL), rows are inserted one per statement, each id from the
 * driver — never computed from the first id and a row count, which MySQL's interleaved
 * auto-increment (`innodb_autoinc_lock_mode = 2`, its default) does not guarantee.
 */
export function batchInserts(
  table: string,
  columns: readonly string[],
  literals: Readonly<Record<string, string>> = {},
): (db: Kysely<any>, rows: readonly (readonly unknown[])[]) => Promise<number[]> {
  const width = columns.length;
  const allVary = 2 ** width - 1;
  const head = `insert into "${table}" (${[...columns, ...Object.keys(literals)].map((c) => `"${c}"`).join(", ")}) values `;
  const tail = Object.values(literals);
  const single = `${head}(${[...columns.map(() => "?"), ...tail].join(", ")})`;
  const shapes = new Map<string, string>();
  const masks = new Set<number>();

  const build = (size: number, vary: number): string => {
    const numbers: (number | undefined)[] = [];
    let next = 1;
    for (let c = 0; c < width; c++) if ((vary & (1 << c)) === 0) numbers[c] = next++;
    const perRow = width - (next - 1);
    const rows: string[] = [];
    for (let r = 0; r < size; r++) {
      let j = 0;
      const values = columns.map((_, c) => `?${numbers[c] ?? next + r * perRow + j++}`);
      rows.push(`(${[...values, ...tail].join(", ")})`);
    }
    return head + rows.join(", ");
  };

  /** One chunk on SQLite; returns the last id. */
  const sqliteChunk = async (db: Kysely<any>, rows: readonly (readonly unknown[])[]): Promise<number> => {
    const size = rows.length;
    const first = rows[0]!;
    if (size === 1)
      return Number((await db.executeQuery(CompiledQuery.raw(single, first as unknown[]))).insertId);
    let vary = 0;
    for (let c = 0; c < width; c++) {
      const value = first[c];
      for (let r = 1; r < size; r++) {
        if (rows[r]![c] !== value) {
          vary |= 1 << c;
          break;
        }
      }
    }
    if (!masks.has(vary)) {
      if (masks.size < MAX_SHAPES) masks.add(vary);
      else vary = allVary;
    }
    const key = `${size}:${vary}`;
    let text = shapes.get(key);
    if (text === undefined) {
      text = build(size, vary);
      shapes.set(key, text);
    }
    const values: Record<number, unknown> = {};
    let n = 1;
    for (let c = 0; c < width; c++) if ((vary & (1 << c)) === 0) values[n++] = first[c];
    for (let r = 0; r < size; r++) {
      const row = rows[r]!;
      for (let c = 0; c < width; c++) if ((vary & (1 << c)) !== 0) values[n++] = row[c];
    }
    return Number(
      (await db.executeQuery(CompiledQuery.raw(text, [new NumberedParameters(values)]))).insertId,
    );
  };

  const returning = statementsBySize((db, arg, size) =>
    db
      .insertInto(table)
      .values(
        Array.from({ length: size }, (_, r) => {
          const row: Record<string, unknown> = {};
          columns.forEach((column, c) => {
            row[column] = arg(r * width + c);
          });
          for (const [column, literal] of Object.entries(literals)) row[column] = sql.raw(literal);
          return row;
        }),
      )
      .returning("id"),
  );

  const one = statement((db, arg) => {
    const row: Record<string, unknown> = {};
    columns.forEach((column, c) => {
      row[column] = arg(c);
    });
    for (const [column, literal] of Object.entries(literals)) row[column] = sql.raw(literal);
    return db.insertInto(table).values(row);
  });

  return async (db, rows) => {
    const caps = capabilitiesOf(db);
    const sqlite = caps.consecutiveInsertIds;
    const ids: number[] = [];
    if (!sqlite && !caps.insertReturning) {
      for (const row of rows) ids.push(Number((await one.execute(db, row)).insertId));
      return ids;
    }
    let offset = 0;
    for (const size of chunkSizes(rows.length, CHUNK)) {
      const chunk = rows.slice(offset, offset + size);
      offset += size;
      if (sqlite) {
        const last = await sqliteChunk(db, chunk);
        for (let i = 0; i < size; i++) ids.push(last - size + 1 + i);
      } else {
        const result = await returning(size).execute<{ id: number | string }>(db, chunk.flat());
        ids.push(...result.rows.map((row) => Number(row.id)).sort((a, b) => a - b));
      }
    }
    return ids;
  };
}
