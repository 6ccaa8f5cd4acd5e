import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompiledQuery, type Kysely, type KyselyPlugin } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The generator the ledger benchmark uses: rows made by the database itself (seconds, not minutes, on MariaDB).
import { analyze, fillNotifications, fillSchedules, fillTasks } from "../../bench/ledger-data.js";
import { type Database, openDatabase } from "../../src/ledger/database.js";
import { ledgerMigrations, runMigrations } from "../../src/ledger/migrations.js";
import * as queries from "../../src/ledger/queries.js";
import { waitingDeliveries } from "../../src/ledger/queue.js";
import type { LedgerDatabase } from "../../src/ledger/schema.js";
import { DIALECTS, freshDatabaseUrl, skipped } from "../helpers/dialects.js";

/**
 * The hot reads' plans on every dialect: each read is run through the library as it really is
 * issued, its SQL captured, and the database's own EXPLAIN must show the index meant for it —
 * no full scan of tasks or notifications, and no sort where an index gives the order.
 *
 * 30,000 tasks of 200 owners (skewed), mixed statuses, 20 schedules with runs, 3 notifications a
 * task: enough that a planner picks by cost. Servers get fresh statistics (their background work
 * keeps them so); SQLite gets none, as the ledger never runs ANALYZE — its plans must hold without.
 */
const TASKS = 30_000;
const OWNERS = 200;

/** How a plan reads one table: by which index (none: the table whole), bounded by a condition or walked whole. */
interface Access {
  readonly table: string;
  readonly index: string | undefined;
  readonly bounded: boolean;
}

/** What EXPLAIN said about one statement. */
interface Plan {
  readonly accesses: Access[];
  readonly sorts: boolean;
  readonly text: string;
}

const LEDGER_TABLES = new Set(["tasks", "notifications"]);
/** The ledger's partial indexes on PostgreSQL (and SQLite): only rows of one status, or schedule runs. */
const PARTIAL = new Set([
  "tasks_finished",
  "tasks_reserved",
  "tasks_running",
  "tasks_schedule_slot",
  "tasks_schedule_id",
  "tasks_canceled",
]);

for (const dialect of DIALECTS) {
  describe.skipIf(skipped(dialect))(`the hot reads' plans on ${dialect.name}`, () => {
    let database: Database;
    let dir: string | undefined;
    let schedule: number;
    const issued: CompiledQuery[] = [];
    let db: Kysely<LedgerDatabase>;

    beforeAll(async () => {
      // SQLite: a file of this block's own (the helpers' temp files go after each test).
      if (dialect.name === "sqlite") dir = mkdtempSync(join(tmpdir(), "tl-explain-"));
      const url = dir ? `sqlite:${join(dir, "ledger.db")}` : await freshDatabaseUrl(dialect.name);
      database = openDatabase(url);
      await runMigrations(database.db, ledgerMigrations(database.dialect), "taskledger_migrations");
      const schedules = await fillSchedules(database, 20);
      schedule = schedules[3]!;
      await fillTasks(database, { count: TASKS, owners: OWNERS, schedules });
      await fillNotifications(database);
      if (dialect.name !== "sqlite") await analyze(database);
      db = database.db.withPlugin(capture(database.db, issued));
    }, 120_000);

    afterAll(async () => {
      await database?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** The statement(s) `read` issues, and their plans. */
    async function plans(read: (db: Kysely<LedgerDatabase>) => Promise<unknown>): Promise<Plan[]> {
      issued.length = 0;
      await read(db);
      const statements = issued.splice(0);
      expect(statements.length).toBeGreaterThan(0);
      return Promise.all(statements.map((statement) => explain(database, statement)));
    }

    /**
     * Every statement of `read` reads tasks and notifications through an index, bounded by its
     * condition (`walk`: an index walked in order until the LIMIT, allowed for unfiltered lists),
     * uses `index`, and sorts nothing unless `sorts` (a small set, e.g. one owner's live tasks).
     */
    async function expectIndex(
      read: (db: Kysely<LedgerDatabase>) => Promise<unknown>,
      index: string | RegExp,
      options: { sorts?: boolean; walk?: boolean } = {},
    ) {
      for (const plan of await plans(read)) {
        const context = `plan:\n${plan.text}`;
        const ledger = plan.accesses.filter((a) => LEDGER_TABLES.has(a.table));
        expect(ledger.length, context).toBeGreaterThan(0);
        expect(
          ledger.filter((a) => a.index === undefined || (!a.bounded && !options.walk)),
          context,
        ).toEqual([]);
        const matches = (name: string | undefined) =>
          name !== undefined && (typeof index === "string" ? name === index : index.test(name));
        expect(
          ledger.some((a) => matches(a.index)),
          context,
        ).toBe(true);
        if (!options.sorts) expect(plan.sorts, context).toBe(false);
      }
    }

    const primary = /^(PRIMARY|tasks_pkey|primary key)$/;

    it("an owner's list (GET /api/tasks, tasks.list) reads the owner's index newest first", async () => {
      await expectIndex((db) => queries.listTasks(db, { owner: "user7", limit: 50 }), "tasks_owner_id");
      await expectIndex(
        (db) => queries.listTasks(db, { owner: "user7", cursor: 20_000, limit: 50 }),
        "tasks_owner_id",
      );
    });

    it("the admin list, unfiltered, walks ids newest first", async () => {
      await expectIndex((db) => queries.listTasks(db, { limit: 50 }), primary, { walk: true });
    });

    it("the admin list by status reads the status index newest first", async () => {
      for (const status of ["running", "queued", "reserved"] as const)
        await expectIndex(
          (db) => queries.listTasks(db, { displayStatus: [status], limit: 50 }),
          "tasks_status_id",
        );
      // A status most tasks have: walking ids newest first finds 50 at once, and planners may.
      for (const status of ["canceled", "failed", "finished"] as const)
        await expectIndex(
          (db) => queries.listTasks(db, { displayStatus: [status], limit: 50 }),
          /^(tasks_status_id|PRIMARY|tasks_pkey|primary key)$/,
          { walk: true },
        );
      await expectIndex(
        (db) => queries.listTasks(db, { status: ["queued", "reserved"], limit: 200 }),
        /^(tasks_status_id|PRIMARY|tasks_pkey|primary key)$/,
        { sorts: true, walk: true }, // the testing kit's read: two ranges merged, or ids walked
      );
    });

    // An owner's tasks of one status: the owner's index newest first, filtered (no index is written
    // at every status change for it: see migration 0004), or a status's own index. On MySQL
    // tasks_finished holds every row, and its (owner, status) prefix serves as well.
    const ownerStatus = /^tasks_(owner_id|status_id|finished|running|reserved|canceled)$/;

    it("the admin list by owner and status reads the owner's tasks of that status", async () => {
      for (const status of ["running", "finished", "canceled"] as const)
        await expectIndex(
          (db) => queries.listTasks(db, { owner: "user7", displayStatus: [status], limit: 50 }),
          ownerStatus,
          { sorts: true }, // PostgreSQL sorts a few rows rather than walk the index backwards
        );
    });

    it("a schedule's runs are read newest first from the schedule's index", async () => {
      await expectIndex(
        (db) => queries.listTasks(db, { scheduleId: schedule, limit: 20 }),
        "tasks_schedule_id",
      );
      await expectIndex(
        (db) => queries.listTasks(db, { scheduleId: schedule, cursor: 20_000, limit: 20 }),
        "tasks_schedule_id",
      );
    });

    // One owner's live tasks, oldest first: the owner's tasks in id order, filtered (retention
    // bounds how many an owner has), never the whole table.
    it("the task center's in-progress list reads the owner's tasks", async () => {
      await expectIndex((db) => queries.inProgressTasks(db, "user7", 50), ownerStatus, { sorts: true });
    });

    it("the task center's reserved and last finished lists read the owner's tasks of each status", async () => {
      await expectIndex(
        (db) => queries.reservedTasks(db, "user7", 50),
        /^tasks_(owner_id|reserved|finished)$/,
        {
          sorts: true,
        },
      );
      await expectIndex(
        (db) => queries.recentFinishedTasks(db, "user7", 5, { canceled: true }),
        /^tasks_(finished|canceled)$/,
        { sorts: true },
      );
    });

    it("notifications after an id, and the newest, read the owner's index", async () => {
      await expectIndex(
        (db) => queries.notificationsAfter(db, "user7", 40_000, 100),
        "notifications_owner_id",
      );
      await expectIndex((db) => queries.latestNotifications(db, "user7", 20), "notifications_owner_id");
    });

    // Two ranges of (status, id) give no single id order: every batch sorts the waiting rows left
    // after its id. Bounded by the waiting rows, not the table; one read per status would not sort.
    it("the relay's read of waiting rows uses the status index", async () => {
      await expectIndex((db) => waitingDeliveries(db, 0, 1_000), "tasks_status_id", { sorts: true });
    });
  });
}

/** A plugin that keeps the compiled SQL of every query built through it. */
function capture(base: Kysely<LedgerDatabase>, into: CompiledQuery[]): KyselyPlugin {
  return {
    transformQuery(args) {
      into.push(base.getExecutor().compileQuery(args.node, args.queryId));
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
}

async function explain(database: Database, statement: CompiledQuery): Promise<Plan> {
  const run = async (prefix: string) =>
    (
      await database.db.executeQuery(
        CompiledQuery.raw(`${prefix} ${statement.sql}`, [...statement.parameters]),
      )
    ).rows as Record<string, unknown>[];
  if (database.dialect === "sqlite") {
    const details = ((await run("explain query plan")) as { detail: string }[]).map((r) => r.detail);
    const accesses = details.flatMap((detail): Access[] => {
      const step =
        /^(SEARCH|SCAN) (\w+)(?: USING (?:COVERING )?INDEX (\w+)| USING (INTEGER PRIMARY KEY))?/.exec(detail);
      if (!step) return [];
      const [, kind, table, index, rowid] = step;
      // `SCAN tasks` walks the rowids in order: an index walk of the primary key.
      const name = index ?? (rowid || kind === "SCAN" ? "primary key" : undefined);
      return [{ table: table!, index: name, bounded: kind === "SEARCH" }];
    });
    return {
      accesses,
      sorts: details.some((d) => /TEMP B-TREE/.test(d)),
      text: `${statement.sql}\n${details.join("\n")}`,
    };
  }
  if (database.dialect === "postgres") {
    const rows = await run("explain (format json)");
    const root = (rows[0]!["QUERY PLAN"] as { Plan: PgNode }[])[0]!.Plan;
    const nodes = walk(root);
    const accesses = nodes.flatMap((n): Access[] => {
      if (n["Node Type"] === "Seq Scan")
        return [{ table: n["Relation Name"]!, index: undefined, bounded: false }];
      if (!n["Index Name"]) return [];
      const table = n["Relation Name"] ?? n["Index Name"].replace(/_.*$/, "");
      // A partial index is bounded by its own condition.
      const bounded = n["Index Cond"] !== undefined || PARTIAL.has(n["Index Name"]);
      return [{ table, index: n["Index Name"], bounded }];
    });
    return {
      accesses,
      sorts: nodes.some((n) => /Sort/.test(n["Node Type"])),
      text: `${statement.sql}\n${JSON.stringify(root, null, 1)}`,
    };
  }
  const rows = await run("explain format=json");
  const json = JSON.parse(String(Object.values(rows[0]!)[0]));
  const accesses: Access[] = [];
  let sorts = false;
  const visit = (value: unknown) => {
    if (!value || typeof value !== "object") return;
    for (const [key, inner] of Object.entries(value)) {
      if (key === "table" && inner && typeof inner === "object") {
        const t = inner as MysqlTable;
        // `ALL` reads the table whole, `index` walks a whole index; the others are bounded.
        const index = t.access_type === "ALL" ? undefined : t.key;
        accesses.push({ table: t.table_name, index, bounded: !["ALL", "index"].includes(t.access_type) });
      }
      if (/filesort|temporary_table/.test(key) && inner) sorts = true;
      visit(inner);
    }
  };
  visit(json);
  return { accesses, sorts, text: `${statement.sql}\n${JSON.stringify(json, null, 1)}` };
}

interface PgNode {
  "Node Type": string;
  "Index Name"?: string;
  "Index Cond"?: string;
  "Relation Name"?: string;
  Plans?: PgNode[];
}

function walk(node: PgNode): PgNode[] {
  return [node, ...(node.Plans ?? []).flatMap(walk)];
}

interface MysqlTable {
  table_name: string;
  access_type: string;
  key?: string;
}
