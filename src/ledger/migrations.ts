import { type Kysely, type Migration, Migrator, sql } from "kysely";
import { TaskledgerError } from "../core/errors.js";
import type { DialectName } from "./database.js";

/**
 * Numbered ledger migrations. A released migration is never edited: add the next number.
 * Column types are chosen per dialect only where they must differ (generated ids, big integers,
 * MySQL's text sizes). What each step does on SQLite is as released; the MySQL branches (its
 * foreign key, its re-runnable steps, `LONGTEXT`) came with the first MySQL ledger.
 */
export function ledgerMigrations(dialect: DialectName): Record<string, Migration> {
  const id = dialect === "sqlite" ? "integer" : "bigint";
  const big = dialect === "sqlite" ? "integer" : "bigint";
  // MySQL's TEXT holds 64 KB; payloads, results and logs may be far larger (maxJsonBytes).
  const text = dialect === "mysql" ? sql`longtext` : ("text" as const);
  const short = dialect === "mysql" ? "varchar(255)" : "text";
  const autoId = (col: any) =>
    dialect === "sqlite"
      ? col.primaryKey().autoIncrement()
      : dialect === "postgres"
        ? col.primaryKey().generatedByDefaultAsIdentity()
        : col.primaryKey().autoIncrement();
  const ddl = steps(dialect);

  return {
    "0001_ledger": {
      async up(db: Kysely<any>) {
        await ddl
          .createTable(db, "scheduled_tasks")
          .addColumn("id", id, autoId)
          .addColumn("key", short, (c) => c.notNull().unique())
          .addColumn("name", short, (c) => c.notNull())
          .addColumn("description", text, (c) => c.notNull())
          .addColumn("owner", short)
          .addColumn("type", short, (c) => c.notNull())
          .addColumn("payload", text, (c) => c.notNull())
          .addColumn("spec", text, (c) => c.notNull())
          .addColumn("status", short, (c) => c.notNull())
          .addColumn("paused_at", big)
          .addColumn("next_run_at", big)
          .addColumn("last_run_at", big)
          .addColumn("run_count", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("declared", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("created_at", big, (c) => c.notNull())
          .addColumn("updated_at", big, (c) => c.notNull())
          .execute();
        await ddl.index(db, "scheduled_tasks", "scheduled_tasks_status_next", () =>
          db.schema
            .createIndex("scheduled_tasks_status_next")
            .on("scheduled_tasks")
            .columns(["status", "next_run_at"]),
        );

        await ddl
          .createTable(db, "tasks")
          .addColumn("id", id, autoId)
          .addColumn("name", short, (c) => c.notNull())
          .addColumn("description", text, (c) => c.notNull())
          .addColumn("owner", short)
          .addColumn("queue", short, (c) => c.notNull())
          .addColumn("priority", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("status", short, (c) => c.notNull())
          .addColumn("failed", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("progress", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("payload", text, (c) => c.notNull())
          .addColumn("result", text)
          .addColumn("log", text)
          .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("max_attempts", "integer", (c) => c.notNull())
          .addColumn("retry", text, (c) => c.notNull())
          .addColumn("timeout_ms", "integer", (c) => c.notNull())
          .addColumn("reserved_at", big)
          .addColumn("schedule_id", id, (c) =>
            // InnoDB ignores an inline REFERENCES: there the key is a table constraint (below).
            dialect === "mysql" ? c : c.references("scheduled_tasks.id").onDelete("cascade"),
          )
          .addColumn("slot_at", big)
          .addColumn("cancel_requested_at", big)
          .addColumn("created_at", big, (c) => c.notNull())
          .addColumn("updated_at", big, (c) => c.notNull())
          .addColumn("started_at", big)
          .addColumn("finished_at", big)
          .$call((t) =>
            dialect === "mysql"
              ? t.addForeignKeyConstraint(
                  "tasks_schedule_id_fk",
                  ["schedule_id"],
                  "scheduled_tasks",
                  ["id"],
                  (fk) => fk.onDelete("cascade"),
                )
              : t,
          )
          .execute();
        // Indexes that serve one status (or only schedule runs) are partial where the dialect
        // allows it, so a write touches only the indexes its row belongs in: an enqueue skips the
        // reservation, finished and schedule indexes. MySQL, without partial indexes, indexes all rows.
        const partial = dialect !== "mysql";
        const only = <T extends { where: (e: any) => T }>(builder: T, condition: ReturnType<typeof sql>) =>
          partial ? builder.where(condition) : builder;
        await ddl.index(db, "tasks", "tasks_owner_id", () =>
          db.schema.createIndex("tasks_owner_id").on("tasks").columns(["owner", "id"]),
        );
        await ddl.index(db, "tasks", "tasks_finished", () =>
          only(
            db.schema.createIndex("tasks_finished").on("tasks").columns(["owner", "status", "finished_at"]),
            sql`status = 'finished'`,
          ),
        );
        await ddl.index(db, "tasks", "tasks_reserved", () =>
          only(
            db.schema.createIndex("tasks_reserved").on("tasks").columns(["status", "reserved_at", "id"]),
            sql`status = 'reserved'`,
          ),
        );
        // Newest-first lists filtered by status, and queue counts read from the index alone.
        await ddl.index(db, "tasks", "tasks_status_id", () =>
          db.schema.createIndex("tasks_status_id").on("tasks").columns(["status", "id"]),
        );
        await ddl.index(db, "tasks", "tasks_queue_status", () =>
          db.schema.createIndex("tasks_queue_status").on("tasks").columns(["queue", "status"]),
        );
        await ddl.index(db, "tasks", "tasks_schedule_slot", () =>
          only(
            db.schema
              .createIndex("tasks_schedule_slot")
              .on("tasks")
              .columns(["schedule_id", "slot_at"])
              .unique(),
            sql`schedule_id is not null`,
          ),
        );

        await ddl
          .createTable(db, "notifications")
          .addColumn("id", id, autoId)
          .addColumn("owner", short)
          .addColumn("name", short, (c) => c.notNull())
          .addColumn("task_id", id)
          .addColumn("data", text, (c) => c.notNull())
          .addColumn("created_at", big, (c) => c.notNull())
          .execute();
        await ddl.index(db, "notifications", "notifications_owner_id", () =>
          db.schema.createIndex("notifications_owner_id").on("notifications").columns(["owner", "id"]),
        );

        await ddl
          .createTable(db, "workers")
          .addColumn("id", short, (c) => c.primaryKey())
          .addColumn("host", short, (c) => c.notNull())
          .addColumn("pid", "integer", (c) => c.notNull())
          .addColumn("queues", text, (c) => c.notNull())
          .addColumn("concurrency", "integer", (c) => c.notNull())
          .addColumn("started_at", big, (c) => c.notNull())
          .addColumn("last_seen_at", big, (c) => c.notNull())
          .execute();

        await ddl
          .createTable(db, "leases")
          .addColumn("name", short, (c) => c.primaryKey())
          .addColumn("holder", short, (c) => c.notNull())
          .addColumn("acquired_at", big, (c) => c.notNull())
          .addColumn("renewed_at", big, (c) => c.notNull())
          .addColumn("expires_at", big, (c) => c.notNull())
          .execute();
      },
    },
    "0002_task_queue_columns": {
      async up(db: Kysely<any>) {
        // When the task may run next (enqueue time, reservation time, retry time), which worker
        // holds or last held it, and until when that worker's lease runs. Every engine records
        // them; the embedded engine claims straight from these rows (no queue table beside them).
        await ddl.column(db, "tasks", "run_at", () => db.schema.alterTable("tasks").addColumn("run_at", big));
        await ddl.column(db, "tasks", "worker_id", () =>
          db.schema.alterTable("tasks").addColumn("worker_id", short),
        );
        await ddl.column(db, "tasks", "lease_expires_at", () =>
          db.schema.alterTable("tasks").addColumn("lease_expires_at", big),
        );
        await sql`update tasks set run_at = coalesce(reserved_at, created_at) where status in ('queued', 'reserved')`.execute(
          db,
        );
        // Claim order within a queue's waiting tasks; its (queue, status) prefix also gives the
        // queue counts from the index alone, so it replaces the (queue, status) index.
        await ddl.dropIndex(db, "tasks", "tasks_queue_status");
        await ddl.index(
          db,
          "tasks",
          "tasks_queue",
          () => sql`create index tasks_queue on tasks (queue, status, priority desc, run_at, id)`,
        );
        const partial = dialect !== "mysql";
        // Leases of running attempts, by worker (heartbeats, cancel checks, the sweeper).
        await ddl.index(
          db,
          "tasks",
          "tasks_running",
          () =>
            sql`create index tasks_running on tasks (worker_id, lease_expires_at)${
              partial ? sql` where status = 'running'` : sql``
            }`,
        );
      },
    },
    "0003_idempotency_and_no_return": {
      async up(db: Kysely<any>) {
        // The caller's idempotency key: the same key (per owner) returns the same task.
        await ddl.column(db, "tasks", "idempotency_key", () =>
          db.schema.alterTable("tasks").addColumn("idempotency_key", short),
        );
        const partial = dialect !== "mysql";
        await ddl.index(
          db,
          "tasks",
          "tasks_idempotency",
          () =>
            sql`create unique index tasks_idempotency on tasks (owner, idempotency_key)${
              partial ? sql` where idempotency_key is not null` : sql``
            }`,
        );
        // When (and why) the running attempt passed its point of no return: a cancel after it is refused.
        await ddl.column(db, "tasks", "no_return_at", () =>
          db.schema.alterTable("tasks").addColumn("no_return_at", big),
        );
        await ddl.column(db, "tasks", "no_return_reason", () =>
          db.schema.alterTable("tasks").addColumn("no_return_reason", text),
        );
      },
    },
    "0004_canceled_and_schedule_runs": {
      async up(db: Kysely<any>) {
        // An owner's canceled tasks by end time (the task center's "last finished" with canceled
        // ones): without it every canceled task of every owner was read and sorted. Partial, so
        // only a cancel writes it. On MySQL tasks_finished holds every row and serves already.
        // (A full (owner, status, id) index would serve every owner + status list, but it is
        // written at every start and settle: +22 % WAL frames an enqueue, +11 % a processed task
        // on SQLite. The live lists walk the owner's tasks newest first instead; retention bounds them.)
        if (dialect !== "mysql") {
          await sql`create index tasks_canceled on tasks (owner, finished_at) where status = 'canceled'`.execute(
            db,
          );
        }
        // A schedule's runs newest first (schedules.runs): tasks_schedule_slot finds them but in
        // slot order, so every read sorted all of the schedule's runs — a year of a per-minute
        // schedule is half a million. Partial where the dialect allows it (MySQL: every row).
        const partial = dialect !== "mysql";
        await ddl.index(
          db,
          "tasks",
          "tasks_schedule_id",
          () =>
            sql`create index tasks_schedule_id on tasks (schedule_id, id)${
              partial ? sql` where schedule_id is not null` : sql``
            }`,
        );
      },
    },
  };
}

/** A schema builder (`execute()`) or raw SQL (`execute(db)`). */
type Executable = { execute(db: Kysely<any>): Promise<unknown> } | { execute(): Promise<unknown> };

/**
 * How a migration's statements run. Where DDL is transactional (SQLite, PostgreSQL) a migration is
 * one transaction and its statements run as written. MySQL commits each DDL statement on its own,
 * so a migration stopped halfway (a crash, a lost connection) is left half applied: there every
 * step is one statement that first checks whether it is already done, and the migration, run
 * again, finishes what was left. Tables there are InnoDB (foreign keys, transactions) in utf8mb4
 * with binary collation: text compares as on SQLite and PostgreSQL (`Alice` is not `alice`).
 */
function steps(dialect: DialectName) {
  const mysql = dialect === "mysql";
  return {
    createTable(db: Kysely<any>, table: string) {
      const builder = db.schema.createTable(table);
      return mysql
        ? builder
            .ifNotExists()
            .modifyEnd(sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin`)
        : builder;
    },
    async index(db: Kysely<any>, table: string, name: string, build: () => Executable): Promise<void> {
      if (mysql && (await mysqlIndexExists(db, table, name))) return;
      await run(db, build());
    },
    async dropIndex(db: Kysely<any>, table: string, name: string): Promise<void> {
      if (!mysql) return void (await db.schema.dropIndex(name).execute());
      if (await mysqlIndexExists(db, table, name)) await db.schema.dropIndex(name).on(table).execute();
    },
    async column(db: Kysely<any>, table: string, name: string, build: () => Executable): Promise<void> {
      if (mysql) {
        const { rows } = await sql<{ n: number }>`select count(*) as n from information_schema.columns
          where table_schema = database() and table_name = ${table} and column_name = ${name}`.execute(db);
        if (Number(rows[0]?.n ?? 0) > 0) return;
      }
      await run(db, build());
    },
  };
}

async function run(db: Kysely<any>, statement: Executable): Promise<void> {
  await (statement as { execute(db: Kysely<any>): Promise<unknown> }).execute(db);
}

async function mysqlIndexExists(db: Kysely<any>, table: string, name: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`select count(*) as n from information_schema.statistics
    where table_schema = database() and table_name = ${table} and index_name = ${name}`.execute(db);
  return Number(rows[0]?.n ?? 0) > 0;
}

/** Run pending migrations from a list, tracked in their own table. */
export async function runMigrations(
  db: Kysely<any>,
  migrations: Record<string, Migration>,
  table: string,
): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: table,
    migrationLockTableName: `${table}_lock`,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw new TaskledgerError("unavailable", `migration ${failed ?? ""} failed: ${String(error)}`, {
      cause: error,
    });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** True when the ledger's tables exist (used to give a clear error before `migrate`). */
export async function hasLedgerTables(db: Kysely<any>, dialect: DialectName): Promise<boolean> {
  const result =
    dialect === "sqlite"
      ? await sql<{
          n: number;
        }>`select count(*) as n from sqlite_master where type = 'table' and name = 'tasks'`.execute(db)
      : await sql<{ n: number }>`select count(*) as n from information_schema.tables
          where table_schema = ${dialect === "postgres" ? sql`current_schema()` : sql`database()`} and table_name = 'tasks'`.execute(
          db,
        );
  return Number(result.rows[0]?.n ?? 0) > 0;
}
