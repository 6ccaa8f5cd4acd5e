import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { CompiledQuery, type Kysely } from "kysely";
import { invalid, TaskledgerError } from "../../core/errors.js";
import type { Delivery, Engine, Tx } from "../../engine/contract.js";
import { loadPostgresDriver, type PgClient, type PgPool, type PostgresDriver } from "./postgres-driver.js";
import { bullmqQueueName, deliveryOf, jobIdOf, jobOf, parseCancel } from "./shared.js";

export interface BullmqPostgresEngineOptions {
  /**
   * The ledger's database, `postgres://user:password@host:port/db`: the jobs live in its schema
   * `bullmq`, written in the ledger's own transactions. The engine opens two connections of its
   * own to it (migrations and `nextDue`; the LISTEN connection).
   */
  readonly url: string;
  /**
   * Taskledger queue `q` is BullMQ's queue `{prefix}.q`; cancel signals travel on the channel
   * `{prefix}.cancel`. Default `taskledger`.
   */
  readonly prefix?: string;
}

/** BullMQ's schema (its default); its SQL functions pin their own search_path, so calls name it. */
const SCHEMA = "bullmq";
/** BullMQ's wake-up channel: `add_job` notifies it with the queue's name (delivered at commit). */
const JOBS_CHANNEL = "bullmq_jobs";
/** How long the LISTEN connection waits before it connects again after a loss, ms. */
const RECONNECT_MS = 1_000;
/** A lock this long in the past has ended by any clock (the caller's may run ahead of the server's). */
const EXPIRED_LOCK_MS = 1e12;
/** Task ids per cancel message: a NOTIFY payload must stay under 8 000 bytes. */
const IDS_PER_SIGNAL = 400;

/**
 * Jobs claimed for a round: BullMQ's `move_to_active` (due delayed jobs promoted by the caller's
 * clock `$3`, then the first waiting job by priority and order, `SKIP LOCKED`), called `$4` times
 * in one statement. A claimed job is removed in the same transaction, so no one else ever sees it
 * active: it takes a lock that ended long ago (`remove` refuses a job whose lock still runs).
 */
const TAKE = `SELECT (j).id AS id, (j).data AS data, (j).priority AS priority
  FROM (SELECT ${SCHEMA}.move_to_active($1::text, $2::text, ${-EXPIRED_LOCK_MS}::bigint, $3::bigint, NULL::text, NULL::integer, NULL::bigint) AS j
          FROM generate_series(1, $4::integer) OFFSET 0) AS claimed
 WHERE (j).id IS NOT NULL`;

/**
 * The engine on BullMQ's PostgreSQL backend, in the ledger's own database (`delivery:
 * "transaction"`): a delivery is the job `t{id}-{attempt}` (the Redis engine's id, data, priority
 * and delay: `shared.ts`), added by BullMQ's `add_job` inside the ledger transaction that records
 * the task — a rollback leaves no job, a commit leaves both, and there is nothing for the relay to
 * make good. A worker's round claims jobs with BullMQ's `move_to_active` and removes them in its
 * own transaction, where the ledger's fenced start decides: a round that fails hands its jobs
 * back by rolling back, and from the commit on the ledger's lease, not BullMQ, says whether the
 * attempt is alive. No BullMQ Worker runs, so no stall check is needed.
 *
 * Idle workers wake on BullMQ's own NOTIFY (sent by `add_job`, delivered at commit); cancel
 * signals are a NOTIFY sent in the cancel's transaction. Both arrive on one LISTEN connection per
 * engine; while it is down, the worker's poll and heartbeat (its SQL check for cancels) cover.
 *
 * ```ts
 * const tl = createTaskledger({ database: "postgres://app@db/app", engine: "bullmq", tasks });
 * // or, explicitly:
 * const engine = createBullmqPostgresEngine({ url: "postgres://app@db/app" });
 * ```
 */
export function createBullmqPostgresEngine(options: BullmqPostgresEngineOptions): Engine {
  const url = options.url;
  if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url))
    throw invalid("database", "the bullmq engine on PostgreSQL needs a postgres:// URL");
  const prefix = options.prefix ?? "taskledger";
  if (typeof prefix !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(prefix))
    throw invalid("prefix", "must be 1-64 letters, digits, _ . -");
  const where = postgresLocation(url);
  /** This engine's BullMQ lock token, and the sender id of its cancel signals. */
  const token = `taskledger-${randomBytes(6).toString("hex")}`;
  const queueName = (queue: string) => `${prefix}.${bullmqQueueName(queue)}`;
  const cancelChannel = `${prefix}.cancel`;

  let opened: Promise<{ driver: PostgresDriver; pool: PgPool }> | undefined;
  let listener: PgClient | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  let lostOnce = false;
  let closed = false;
  const signals = new EventEmitter();
  signals.setMaxListeners(0);
  const log = (message: string) =>
    console.error(`taskledger bullmq engine (PostgreSQL ${where}): ${message}`);

  function open() {
    opened ??= (async () => {
      const driver = await loadPostgresDriver();
      const pool = new driver.Pool({ connectionString: url, max: 2 });
      pool.on("error", () => {}); // an idle connection the server dropped; replaced on next use
      return { driver, pool };
    })().catch((error) => {
      opened = undefined;
      throw error;
    });
    return opened;
  }

  /** Run one statement in the ledger's transaction, or (no transaction) on the engine's own pool. */
  async function query(tx: Tx | undefined, text: string, values: unknown[]) {
    if (closed) throw new TaskledgerError("closed", "the bullmq engine is closed");
    if (tx) return (await (tx as Kysely<any>).executeQuery(CompiledQuery.raw(text, values))).rows as any[];
    const { pool } = await open();
    return (await pool.query(text, values)).rows as any[];
  }

  async function deliver(deliveries: readonly Delivery[], tx: Tx | undefined): Promise<void> {
    if (deliveries.length === 0) return;
    const now = Date.now();
    const jobs = deliveries.map((d) => ({ queue: queueName(d.queue), ...jobOf(d, now) }));
    // One `add_job` per row (in row order), one round trip: `add_jobs_bulk` pays ~4 ms a call
    // for its temp tables. An existing job id is kept (a repeated delivery changes nothing).
    await query(
      tx,
      `SELECT ${SCHEMA}.add_job(d.queue, d.id, 'task', d.data, d.opts, d.priority, d.delay, d.at, 1,
              NULL, NULL, NULL, NULL, NULL, false)
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::integer[], $6::bigint[], $7::bigint[])
           AS d(queue, id, data, opts, priority, delay, at)`,
      [
        jobs.map((j) => j.queue),
        jobs.map((j) => j.opts.jobId),
        jobs.map((j) => JSON.stringify(j.data)),
        jobs.map((j) => JSON.stringify(j.opts)),
        jobs.map((j) => j.opts.priority),
        jobs.map((j) => j.opts.delay),
        jobs.map((j) => j.opts.timestamp),
      ],
    );
  }

  /** Claim up to `want` jobs of one queue due by the caller's clock, and consume them, in `tx`. */
  async function takeFrom(tx: Tx, name: string, want: number, now: number, taken: Delivery[]) {
    const queue = queueName(name);
    const rows = await query(tx, TAKE, [queue, token, now, want]);
    const consumed: string[] = [];
    const early: { id: string; at: number }[] = [];
    for (const row of rows) {
      const delivery = deliveryOf(row.data, Number(row.priority), name);
      if (delivery && delivery.runAt > now) {
        // Waiting by this host's clock, not yet due by the caller's (clocks apart): back until its time.
        early.push({ id: row.id, at: delivery.runAt });
        continue;
      }
      // A job that is not a taskledger job starts nothing: it is consumed with the others.
      if (delivery) taken.push(delivery);
      consumed.push(row.id);
    }
    if (consumed.length > 0)
      // Removed in the round's transaction: gone once its fenced start commits (back if it rolls back).
      await query(tx, `SELECT ${SCHEMA}.remove($1::text, id, false) FROM unnest($2::text[]) AS id`, [
        queue,
        consumed,
      ]);
    if (early.length > 0)
      await query(
        tx,
        `SELECT ${SCHEMA}.move_to_delayed($1::text, e.id, $2::text, e.at, e.at - $3::bigint, true, NULL::text, NULL::jsonb)
           FROM unnest($4::text[], $5::bigint[]) AS e(id, at)`,
        [queue, token, now, early.map((e) => e.id), early.map((e) => e.at)],
      );
  }

  async function listen(): Promise<void> {
    if (listener || closed) return;
    const { driver } = await open();
    if (listener || closed) return;
    const client = new driver.Client({ connectionString: url, keepAlive: true });
    listener = client;
    client.on("error", (error) => lost(client, error));
    client.on("notification", ({ channel, payload }) => {
      if (channel === JOBS_CHANNEL) {
        if (payload?.startsWith(`${prefix}.`)) signals.emit("delivered");
      } else if (channel === cancelChannel) {
        const signal = parseCancel(payload ?? "");
        if (signal && signal.ids.length > 0) signals.emit("cancel", signal.ids);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${JOBS_CHANNEL}; LISTEN ${quoteIdentifier(cancelChannel)}`);
    } catch (error) {
      lost(client, error);
      return;
    }
    if (lostOnce) {
      log("the LISTEN connection is back.");
      lostOnce = false;
      // What was sent meanwhile is gone: workers read the ledger and BullMQ again (and check cancels).
      signals.emit("delivered");
    }
  }

  function lost(client: PgClient, error: unknown): void {
    if (listener !== client) return;
    listener = undefined;
    client.removeAllListeners();
    client.on("error", () => {});
    void client.end().catch(() => {});
    if (closed) return;
    if (!lostOnce)
      log(
        `the LISTEN connection failed (${String((error as Error)?.message ?? error)}); cancel signals and ` +
          "wake-ups wait for it, the workers' heartbeat and poll cover meanwhile. Connecting again.",
      );
    lostOnce = true;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      void listen().catch((e) => listener === undefined && !closed && log(String(e)));
    }, RECONNECT_MS);
    reconnect.unref();
  }

  function subscribe(event: "cancel" | "delivered", fn: (...args: any[]) => void): () => void {
    signals.on(event, fn);
    void listen().catch((error) => log(`could not LISTEN: ${String((error as Error)?.message ?? error)}`));
    return () => signals.off(event, fn);
  }

  return {
    name: "bullmq",
    delivery: "transaction",

    async migrate() {
      const { driver, pool } = await open();
      const client = await pool.connect();
      try {
        await driver.runMigrations(client, SCHEMA);
      } finally {
        client.release();
      }
    },

    deliver,

    async withdraw(withdrawn, tx) {
      if (withdrawn.length === 0) return;
      const byQueue = new Map<string, string[]>();
      for (const w of withdrawn) {
        const queue = queueName(w.queue);
        byQueue.set(queue, [...(byQueue.get(queue) ?? []), jobIdOf(w)]);
      }
      // A job a round is taking right now is locked: skipped here (no deadlock with that round,
      // which waits for this task's row), the round consumes it and the fenced start refuses it.
      for (const [queue, jobIds] of byQueue)
        await query(
          tx,
          `SELECT ${SCHEMA}.remove($1::text, j.id, false)
             FROM (SELECT id FROM ${SCHEMA}.job WHERE queue = $1::text AND id = ANY($2::text[])
                   FOR UPDATE SKIP LOCKED) AS j`,
          [queue, jobIds],
        );
    },

    async take(request, tx) {
      const taken: Delivery[] = [];
      for (const name of request.queues) {
        const want = request.limit - taken.length;
        if (want <= 0) break;
        await takeFrom(tx, name, want, request.now, taken);
      }
      return taken;
    },

    async nextDue(names) {
      try {
        const rows = await query(
          undefined,
          `SELECT min(${SCHEMA}.next_delay(q)) AS next FROM unnest($1::text[]) AS q`,
          [names.map(queueName)],
        );
        const next = rows[0]?.next;
        return next === null || next === undefined ? null : Number(next);
      } catch (error) {
        if (!closed)
          log(`could not read the next delayed job: ${String((error as Error)?.message ?? error)}`);
        return null; // the worker's poll tries again
      }
    },

    async signalCancel(ids, tx) {
      // Inside the cancel's transaction: sent at its commit, never for a rollback. Every engine on
      // this database hears it on its LISTEN connection, this one included.
      for (let i = 0; i < ids.length; i += IDS_PER_SIGNAL) {
        const message = JSON.stringify({ from: token, ids: ids.slice(i, i + IDS_PER_SIGNAL) });
        await query(tx, "SELECT pg_notify($1, $2)", [cancelChannel, message]);
      }
    },

    onCancel(fn) {
      return subscribe("cancel", fn);
    },

    onDelivered(fn) {
      return subscribe("delivered", fn);
    },

    async close() {
      if (closed) return;
      closed = true;
      signals.removeAllListeners();
      if (reconnect) clearTimeout(reconnect);
      const client = listener;
      listener = undefined;
      if (client) {
        client.removeAllListeners();
        client.on("error", () => {});
        await client.end().catch(() => {});
      }
      const { pool } = (await opened?.catch(() => undefined)) ?? {};
      await pool?.end().catch(() => {});
    },
  };
}

/** `"name"`, quoted as an SQL identifier (a channel name for LISTEN). */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** host:port/db of a PostgreSQL URL, without credentials, for messages. */
export function postgresLocation(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`;
  } catch {
    return "(an invalid PostgreSQL URL)";
  }
}
