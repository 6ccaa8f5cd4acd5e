import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../src/ledger/database.js";
import { ledgerMigrations, runMigrations } from "../../src/ledger/migrations.js";
import { tempDatabase } from "../helpers/index.js";

const opened: Database[] = [];
afterEach(async () => {
  for (const database of opened.splice(0)) await database.close();
});

async function ledger(): Promise<Database> {
  const database = openDatabase(tempDatabase().url);
  opened.push(database);
  await runMigrations(database.db, ledgerMigrations(database.dialect), "taskledger_migrations");
  return database;
}

const insertWorker = (id: string) =>
  sql`insert into workers (id, host, pid, queues, concurrency, started_at, last_seen_at)
      values (${id}, 'host', 1, '[]', 1, 0, 0)`;

const workerIds = async (database: Database) =>
  (await database.db.selectFrom("workers").select("id").orderBy("id").execute()).map((r) => r.id);

describe("ledger transactions (SQLite)", () => {
  it("commit what the function wrote when it resolves, and nothing when it throws", async () => {
    const database = await ledger();
    await database.transaction(async (tx) => {
      await insertWorker("a").execute(tx);
    });
    await expect(
      database.transaction(async (tx) => {
        await insertWorker("b").execute(tx);
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect(await workerIds(database)).toEqual(["a"]);
    expect(database.sqlite!.inTransaction).toBe(false);
  });

  it("take turns: a second transaction starts only after the first has ended", async () => {
    const database = await ledger();
    const order: string[] = [];
    let release!: () => void;
    const first = database.transaction(async (tx) => {
      order.push("first begins");
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      await insertWorker("first").execute(tx);
      order.push("first ends");
    });
    const second = database.transaction(async (tx) => {
      order.push("second begins");
      await insertWorker("second").execute(tx);
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual(["first begins"]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first begins", "first ends", "second begins"]);
    expect(await workerIds(database)).toEqual(["first", "second"]);
  });

  it("refuse a query on a transaction handle after its transaction ended", async () => {
    const database = await ledger();
    let leaked: Database["db"] | undefined;
    await database.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(insertWorker("late").execute(leaked!)).rejects.toThrow(/transaction that has ended/);
    await expect(leaked!.selectFrom("workers").selectAll().execute()).rejects.toThrow(
      /transaction that has ended/,
    );
    expect(await workerIds(database)).toEqual([]);
  });
});
