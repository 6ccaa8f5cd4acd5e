import { type Kysely, type Migration, sql } from "kysely";

/** The embedded engine's own table: one row per task waiting for, or held by, a worker. */
export interface QueueJobsTable {
  id: number;
  queue: string;
  priority: number;
  run_at: number;
  attempt: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  cancel_requested: number;
}

export interface EngineDatabase {
  queue_jobs: QueueJobsTable;
}

export function embeddedMigrations(): Record<string, Migration> {
  return {
    "0001_queue_jobs": {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable("queue_jobs")
          .addColumn("id", "integer", (c) => c.primaryKey())
          .addColumn("queue", "text", (c) => c.notNull())
          .addColumn("priority", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("run_at", "integer", (c) => c.notNull())
          .addColumn("attempt", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("lease_owner", "text")
          .addColumn("lease_expires_at", "integer")
          .addColumn("cancel_requested", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
        // Claim order, over waiting jobs only.
        await sql`create index queue_jobs_waiting on queue_jobs (queue, priority desc, run_at, id) where lease_owner is null`.execute(
          db,
        );
        await sql`create index queue_jobs_leased on queue_jobs (lease_owner, lease_expires_at) where lease_owner is not null`.execute(
          db,
        );
      },
    },
  };
}
