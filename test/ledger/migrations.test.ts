import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { type Kysely, type KyselyPlugin, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../src/ledger/database.js";
import { ledgerMigrations, runMigrations } from "../../src/ledger/migrations.js";
import { DIALECTS, freshDatabaseUrl, skipped } from "../helpers/dialects.js";

/**
 * Migrations on every ledger: from empty, from each earlier version (with rows written by that
 * version), from several processes at once, and — where DDL is not transactional (MySQL) — from a
 * migration stopped after any of its statements.
 */
const TABLE = "taskledger_migrations";
const run = promisify(execFile);
const CLI = resolve("dist/cli/main.js");

const opened: Database[] = [];
afterEach(async () => {
  for (const database of opened.splice(0)) await database.close();
});

function open(url: string): Database {
  const database = openDatabase(url);
  opened.push(database);
  return database;
}

/** Tables, their columns (with types) and their indexes, as the database reports them. */
async function schemaOf(database: Database): Promise<Record<string, unknown>> {
  const db = database.db as Kysely<any>;
  if (database.dialect === "sqlite") {
    const { rows } = await sql<{ type: string; name: string; sql: string | null }>`
      select type, name, sql from sqlite_master where name not like 'sqlite_%' order by type, name`.execute(
      db,
    );
    // The ledger's own tables (the embedded engine keeps its migrations beside them).
    return Object.fromEntries(
      rows.filter((r) => !r.name.includes("embedded")).map((r) => [`${r.type} ${r.name}`, r.sql]),
    );
  }
  const schema = database.dialect === "postgres" ? sql`current_schema()` : sql`database()`;
  const columns = await sql<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
  }>`
    select table_name, column_name, data_type, is_nullable from information_schema.columns
    where table_schema = ${schema} order by table_name, column_name`.execute(db);
  const indexes =
    database.dialect === "postgres"
      ? await sql<{ name: string; definition: string }>`
          select indexname as name, indexdef as definition from pg_indexes
          where schemaname = current_schema() order by indexname`.execute(db)
      : await sql<{ name: string; definition: string }>`
          select concat(table_name, '.', index_name) as name,
            group_concat(column_name order by seq_in_index) as definition
          from information_schema.statistics where table_schema = database()
          group by table_name, index_name order by name`.execute(db);
  const keys =
    database.dialect === "postgres"
      ? await sql<{ name: string; rule: string }>`
          select tc.constraint_name as name, rc.delete_rule as rule
          from information_schema.table_constraints tc
          join information_schema.referential_constraints rc using (constraint_schema, constraint_name)
          where tc.table_schema = current_schema() and tc.constraint_type = 'FOREIGN KEY'`.execute(db)
      : await sql<{ name: string; rule: string }>`
          select constraint_name as name, delete_rule as rule from information_schema.referential_constraints
          where constraint_schema = database()`.execute(db);
  return {
    columns: columns.rows.map((c) => `${c.table_name}.${c.column_name} ${c.data_type} ${c.is_nullable}`),
    indexes: indexes.rows.map((i) => `${i.name}: ${i.definition}`),
    foreignKeys: keys.rows.map((k) => `${k.rule}`),
  };
}

async function applied(database: Database): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(TABLE)} order by name`.execute(
    database.db,
  );
  return rows.map((r) => r.name);
}

/** Fails every query after the first `n` that pass through it: a crash in the middle of a migration. */
function failAfter(n: number): KyselyPlugin {
  let left = n;
  return {
    transformQuery({ node }) {
      if (left-- <= 0) throw new Error("injected: the connection was lost");
      return node;
    },
    async transformResult({ result }) {
      return result;
    },
  };
}

for (const dialect of DIALECTS) {
  describe.skipIf(skipped(dialect))(`migrations on ${dialect.name}`, () => {
    const all = ledgerMigrations(dialect.name);
    const names = Object.keys(all).sort();
    let url: string;
    beforeEach(async () => {
      url = await freshDatabaseUrl(dialect.name);
    });

    it("create the ledger from empty, and a second run changes nothing", async () => {
      const database = open(url);
      expect(await runMigrations(database.db, all, TABLE)).toEqual(names);
      const schema = await schemaOf(database);
      expect(await runMigrations(database.db, all, TABLE)).toEqual([]);
      expect(await schemaOf(database)).toEqual(schema);
      if (dialect.name !== "sqlite") {
        // The schedule → runs cascade is a real foreign key (InnoDB ignores an inline REFERENCES).
        expect((schema as { foreignKeys: string[] }).foreignKeys).toEqual(["CASCADE"]);
      }
    });

    it("bring every earlier version up to date, keeping what it held", async () => {
      const reference = open(await freshDatabaseUrl(dialect.name));
      await runMigrations(reference.db, all, TABLE);
      const expected = await schemaOf(reference);
      for (let version = 1; version < names.length; version++) {
        const database = open(await freshDatabaseUrl(dialect.name));
        const earlier = Object.fromEntries(names.slice(0, version).map((name) => [name, all[name]!]));
        await runMigrations(database.db, earlier, TABLE);
        // A task as that version wrote it (its columns only), waiting to run; from 0002 on, with its run time.
        const now = Date.now();
        const runAt = version >= 2 ? sql`, run_at` : sql``;
        const runAtValue = version >= 2 ? sql`, ${now}` : sql``;
        await sql`insert into tasks (name, description, owner, queue, priority, status, failed, progress,
            payload, attempts, max_attempts, retry, timeout_ms, created_at, updated_at${runAt})
          values ('job', ${`from version ${version}`}, 'alice', 'default', 0, 'queued', 0, 0, '{"n":1}', 0, 4,
            '5000', 60000, ${now}, ${now}${runAtValue})`.execute(database.db);
        expect(await runMigrations(database.db, all, TABLE)).toEqual(names.slice(version));
        expect(await schemaOf(database)).toEqual(expected);
        const row = await database.db.selectFrom("tasks").selectAll().executeTakeFirstOrThrow();
        expect(row).toMatchObject({
          description: `from version ${version}`,
          status: "queued",
          payload: '{"n":1}',
        });
        // A waiting task has its run time (0002 gave it one from its enqueue time).
        expect(Number(row.run_at)).toBe(now);
      }
    });

    it("run once from several processes at once", async () => {
      const results = await Promise.all(
        Array.from({ length: 4 }, () =>
          run(process.execPath, [CLI, "migrate", "--database", url, "--json"], {
            env: { ...process.env, TASKLEDGER_ENGINE: undefined, TASKLEDGER_REDIS_URL: undefined },
          }),
        ),
      );
      for (const result of results) expect(JSON.parse(result.stdout)).toMatchObject({ ok: true });
      const database = open(url);
      expect(await applied(database)).toEqual(names);
      const reference = open(await freshDatabaseUrl(dialect.name));
      await runMigrations(reference.db, all, TABLE);
      expect(await schemaOf(database)).toEqual(await schemaOf(reference));
    });

    it("finish a migration stopped after any of its statements", { timeout: 240_000 }, async () => {
      const reference = open(await freshDatabaseUrl(dialect.name));
      await runMigrations(reference.db, all, TABLE);
      const expected = await schemaOf(reference);
      // Count the statements of a whole run, then stop a fresh run after each of them in turn.
      let total = 0;
      const counting = open(await freshDatabaseUrl(dialect.name));
      await runMigrations(
        counting.db.withPlugin({
          transformQuery: ({ node }) => {
            total++;
            return node;
          },
          transformResult: async ({ result }) => result,
        }),
        all,
        TABLE,
      );
      expect(total).toBeGreaterThan(20);
      for (let n = 0; n < total; n++) {
        const fresh = await freshDatabaseUrl(dialect.name);
        const crashed = openDatabase(fresh);
        await expect(runMigrations(crashed.db.withPlugin(failAfter(n)), all, TABLE)).rejects.toThrow();
        // The process is gone: its connections close (and with them a migration lock it held).
        await crashed.close();
        const database = open(fresh);
        expect(await runMigrations(database.db, all, TABLE)).not.toEqual(undefined);
        expect(await applied(database)).toEqual(names);
        expect(await schemaOf(database), `stopped after ${n} statements`).toEqual(expected);
      }
    });
  });
}
