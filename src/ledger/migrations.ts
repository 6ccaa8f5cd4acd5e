import { type Kysely, type Migration, Migrator, sql } from "kysely";
import { TaskledgerError } from "../core/errors.js";
import type { DialectName } from "./database.js";

/**
 * Numbered ledger migrations. A released migration is never edited: add the next number.
 * Column types are chosen per dialect only where they must differ (generated ids, big integers).
 */
export function ledgerMigrations(dialect: DialectName): Record<string, Migration> {
  const id = dialect === "sqlite" ? "integer" : "bigint";
  const big = dialect === "sqlite" ? "integer" : "bigint";
  const text = "text" as const;
  const short = dialect === "mysql" ? "varchar(255)" : "text";
  const autoId = (col: any) =>
    dialect === "sqlite"
      ? col.primaryKey().autoIncrement()
      : dialect === "postgres"
        ? col.primaryKey().generatedByDefaultAsIdentity()
        : col.primaryKey().autoIncrement();

  return {
    "0001_ledger": {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable("scheduled_tasks")
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
        await db.schema
          .createIndex("scheduled_tasks_status_next")
          .on("scheduled_tasks")
          .columns(["status", "next_run_at"])
          .execute();

        await db.schema
          .createTable("tasks")
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
          .addColumn("schedule_id", id, (c) => c.references("scheduled_tasks.id").onDelete("cascade"))
          .addColumn("slot_at", big)
          .addColumn("cancel_requested_at", big)
          .addColumn("created_at", big, (c) => c.notNull())
          .addColumn("updated_at", big, (c) => c.notNull())
          .addColumn("started_at", big)
          .addColumn("finished_at", big)
          .execute();
        // Indexes that serve one status (or only schedule runs) are partial where the dialect
        // allows it, so a write touches only the indexes its row belongs in: an enqueue skips the
        // reservation, finished and schedule indexes. MySQL, without partial indexes, indexes all rows.
        const partial = dialect !== "mysql";
        const only = <T extends { where: (e: any) => T }>(builder: T, condition: ReturnType<typeof sql>) =>
          partial ? builder.where(condition) : builder;
        await db.schema.createIndex("tasks_owner_id").on("tasks").columns(["owner", "id"]).execute();
        await only(
          db.schema.createIndex("tasks_finished").on("tasks").columns(["owner", "status", "finished_at"]),
          sql`status = 'finished'`,
        ).execute();
        await only(
          db.schema.createIndex("tasks_reserved").on("tasks").columns(["status", "reserved_at", "id"]),
          sql`status = 'reserved'`,
        ).execute();
        // Newest-first lists filtered by status, and queue counts read from the index alone.
        await db.schema.createIndex("tasks_status_id").on("tasks").columns(["status", "id"]).execute();
        await db.schema.createIndex("tasks_queue_status").on("tasks").columns(["queue", "status"]).execute();
        await only(
          db.schema
            .createIndex("tasks_schedule_slot")
            .on("tasks")
            .columns(["schedule_id", "slot_at"])
            .unique(),
          sql`schedule_id is not null`,
        ).execute();

        await db.schema
          .createTable("notifications")
          .addColumn("id", id, autoId)
          .addColumn("owner", short)
          .addColumn("name", short, (c) => c.notNull())
          .addColumn("task_id", id)
          .addColumn("data", text, (c) => c.notNull())
          .addColumn("created_at", big, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex("notifications_owner_id")
          .on("notifications")
          .columns(["owner", "id"])
          .execute();

        await db.schema
          .createTable("workers")
          .addColumn("id", short, (c) => c.primaryKey())
          .addColumn("host", short, (c) => c.notNull())
          .addColumn("pid", "integer", (c) => c.notNull())
          .addColumn("queues", text, (c) => c.notNull())
          .addColumn("concurrency", "integer", (c) => c.notNull())
          .addColumn("started_at", big, (c) => c.notNull())
          .addColumn("last_seen_at", big, (c) => c.notNull())
          .execute();

        await db.schema
          .createTable("leases")
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
        await db.schema.alterTable("tasks").addColumn("run_at", big).execute();
        await db.schema.alterTable("tasks").addColumn("worker_id", short).execute();
        await db.schema.alterTable("tasks").addColumn("lease_expires_at", big).execute();
        await sql`update tasks set run_at = coalesce(reserved_at, created_at) where status in ('queued', 'reserved')`.execute(
          db,
        );
        // Claim order within a queue's waiting tasks; its (queue, status) prefix also gives the
        // queue counts from the index alone, so it replaces the (queue, status) index.
        await db.schema.dropIndex("tasks_queue_status").execute();
        await sql`create index tasks_queue on tasks (queue, status, priority desc, run_at, id)`.execute(db);
        const partial = dialect !== "mysql";
        // Leases of running attempts, by worker (heartbeats, cancel checks, the sweeper).
        await sql`create index tasks_running on tasks (worker_id, lease_expires_at)${
          partial ? sql` where status = 'running'` : sql``
        }`.execute(db);
      },
    },
    "0003_idempotency_and_no_return": {
      async up(db: Kysely<any>) {
        // The caller's idempotency key: the same key (per owner) returns the same task.
        await db.schema.alterTable("tasks").addColumn("idempotency_key", short).execute();
        const partial = dialect !== "mysql";
        await sql`create unique index tasks_idempotency on tasks (owner, idempotency_key)${
          partial ? sql` where idempotency_key is not null` : sql``
        }`.execute(db);
        // When (and why) the running attempt passed its point of no return: a cancel after it is refused.
        await db.schema.alterTable("tasks").addColumn("no_return_at", big).execute();
        await db.schema.alterTable("tasks").addColumn("no_return_reason", text).execute();
      },
    },
  };
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
export async function hasLedgerTables(db: Kysely<any>): Promise<boolean> {
  const result = await sql<{
    n: number;
  }>`select count(*) as n from sqlite_master where type = 'table' and name = 'tasks'`.execute(db);
  return Number(result.rows[0]?.n ?? 0) > 0;
}
