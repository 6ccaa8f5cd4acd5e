import { type Kysely, type Migration, sql } from "kysely";

/**
 * The embedded engine's migrations. Its queue is the ledger's own `tasks` table (the columns
 * `queue`, `priority`, `status`, `run_at`, `attempts`, `worker_id`, `lease_expires_at`,
 * `cancel_requested_at`, from the ledger's migration 0002): a waiting task *is* its queue entry.
 * Migration 0001 made a separate `queue_jobs` table; 0002 moves what it held into those columns
 * and drops it (released migrations are never edited).
 */
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
        await sql`create index queue_jobs_waiting on queue_jobs (queue, priority desc, run_at, id) where lease_owner is null`.execute(
          db,
        );
        await sql`create index queue_jobs_leased on queue_jobs (lease_owner, lease_expires_at) where lease_owner is not null`.execute(
          db,
        );
      },
    },
    "0002_queue_in_tasks": {
      async up(db: Kysely<any>) {
        // Retry times and the leases of running attempts carry over; the rest is already in `tasks`.
        await sql`update tasks set
            run_at = (select q.run_at from queue_jobs q where q.id = tasks.id),
            worker_id = (select q.lease_owner from queue_jobs q where q.id = tasks.id),
            lease_expires_at = (select q.lease_expires_at from queue_jobs q where q.id = tasks.id)
          where id in (select id from queue_jobs)`.execute(db);
        await db.schema.dropTable("queue_jobs").execute();
      },
    },
  };
}
