import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { embeddedMigrations } from "../../src/engines/embedded/schema.js";
import { openDatabase } from "../../src/ledger/database.js";
import { ledgerMigrations, runMigrations } from "../../src/ledger/migrations.js";
import { defineTask } from "../../src/tasks/define.js";
import { tableCounts } from "../helpers/index.js";
import { ManualClock, openLedger, waitForTask } from "./fixture.js";

const job = defineTask({ name: "job", run: async () => "done" });

/** A ledger file as the first release left it: tasks beside a separate `queue_jobs` table. */
async function firstReleaseFile(file: string): Promise<void> {
  const database = openDatabase(`sqlite:${file}`);
  await runMigrations(
    database.db,
    { "0001_ledger": ledgerMigrations("sqlite")["0001_ledger"]! },
    "taskledger_migrations",
  );
  await runMigrations(
    database.db,
    { "0001_queue_jobs": embeddedMigrations()["0001_queue_jobs"]! },
    "taskledger_embedded_migrations",
  );
  await database.close();
}

describe("upgrading a ledger whose queue was a table of its own", () => {
  it("moves run times and leases into the task rows, drops queue_jobs, and runs what waited", async () => {
    const clock = new ManualClock();
    const now = clock.now();
    const { tl, file } = openLedger({ tasks: [job], clock });
    await firstReleaseFile(file);
    const raw = new BetterSqlite3(file);
    const insert =
      raw.prepare(`insert into tasks (id, name, description, owner, queue, priority, status, payload,
        attempts, max_attempts, retry, timeout_ms, created_at, updated_at)
      values (?, 'job', ?, 'alice', 'default', 0, ?, 'null', ?, 4, '{"max":3,"delay":5000,"backoff":"fixed"}', 60000, ?, ?)`);
    const entry =
      raw.prepare(`insert into queue_jobs (id, queue, priority, run_at, attempt, lease_owner, lease_expires_at)
      values (?, 'default', 0, ?, ?, ?, ?)`);
    insert.run(1, "waiting", "queued", 0, now - 1_000, now - 1_000);
    entry.run(1, now - 1_000, 0, null, null);
    insert.run(2, "retrying later", "queued", 1, now - 2_000, now - 2_000);
    entry.run(2, now + 60_000, 1, null, null);
    insert.run(3, "running", "running", 1, now - 3_000, now - 3_000);
    entry.run(3, now - 3_000, 1, "host:1:abc", now + 30_000);
    insert.run(4, "done", "finished", 1, now - 4_000, now - 4_000);
    raw.close();

    await tl.migrate();
    expect(tableCounts(file)).not.toHaveProperty("queue_jobs");
    const reader = new BetterSqlite3(file, { readonly: true });
    const rows = reader
      .prepare("select id, run_at, worker_id, lease_expires_at from tasks order by id")
      .all();
    reader.close();
    expect(rows).toEqual([
      { id: 1, run_at: now - 1_000, worker_id: null, lease_expires_at: null },
      { id: 2, run_at: now + 60_000, worker_id: null, lease_expires_at: null },
      { id: 3, run_at: now - 3_000, worker_id: "host:1:abc", lease_expires_at: now + 30_000 },
      { id: 4, run_at: null, worker_id: null, lease_expires_at: null },
    ]);

    // The due task runs; the retry waits for its time; the running one keeps its lease.
    const worker = tl.createWorker({ queues: ["default"] });
    await worker.start();
    expect(await waitForTask(tl, 1, (t) => t.status === "finished")).toMatchObject({ result: "done" });
    expect(await tl.tasks.get(2)).toMatchObject({ status: "queued", attempts: 1 });
    expect(await tl.tasks.get(3)).toMatchObject({ status: "running" });
    clock.advance(60_000);
    await worker.stop();
    const next = tl.createWorker({ queues: ["default"] });
    await next.start();
    expect(await waitForTask(tl, 2, (t) => t.status === "finished")).toMatchObject({
      result: "done",
      attempts: 2,
    });
    await next.stop();
  });
});
