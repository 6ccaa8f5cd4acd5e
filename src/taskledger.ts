import { NotificationService, TaskService } from "./client/task-service.js";
import { assertPositiveInt } from "./core/backoff.js";
import { type Clock, systemClock } from "./core/clock.js";
import { invalid, TaskledgerError } from "./core/errors.js";
import { DEFAULT_MAX_JSON_BYTES } from "./core/json.js";
import { DEFAULT_HORIZON_DAYS, MAX_HORIZON_DAYS } from "./core/time.js";
import type { WorkerInfo } from "./core/types.js";
import { Commit } from "./engine/commit.js";
import type { Engine } from "./engine/contract.js";
import { createBullmqPostgresEngine } from "./engines/bullmq/postgres.js";
import { createThreadedBullmqEngine } from "./engines/bullmq/threaded.js";
import { createEmbeddedEngine } from "./engines/embedded/engine.js";
import { createMemoryEngine } from "./engines/memory/engine.js";
import { createUnconfiguredEngine, engineNeeded, NO_ENGINE } from "./engines/none.js";
import { attachRuntime } from "./internals.js";
import { type Database, DEFAULT_DATABASE_URL, type DialectName, openDatabase } from "./ledger/database.js";
import { readSchedulerStatus } from "./ledger/leases.js";
import type { Db } from "./ledger/ledger.js";
import { ledgerMigrations, runMigrations } from "./ledger/migrations.js";
import * as queries from "./ledger/queries.js";
import { isLive, toWorker } from "./ledger/rows.js";
import type { NotificationRow } from "./ledger/schema.js";
import {
  assertInteger,
  compileRetention,
  createPruner,
  limitsOf,
  type PruneReport,
  prune,
  type RetentionOptions,
} from "./maintenance/prune.js";
import { type SweepReport, sweep } from "./maintenance/sweeper.js";
import { NotificationBus } from "./notify/bus.js";
import { createChannelNotifier } from "./notify/channel.js";
import { createSqliteNotifier, type Notifier } from "./notify/notifier.js";
import { createPollingChannel } from "./notify/polling.js";
import { createPostgresChannel } from "./notify/postgres.js";
import { createRedisChannel } from "./notify/redis.js";
import type { Runtime, Settings } from "./runtime.js";
import { prepareEntries } from "./scheduler/entry.js";
import { createScheduler } from "./scheduler/scheduler.js";
import { ScheduleService } from "./scheduler/service.js";
import type { ScheduleEntry, SchedulerStatus } from "./scheduler/types.js";
import { assertQueueName, type TaskDefinition } from "./tasks/define.js";
import { TaskRegistry } from "./tasks/registry.js";
import { createWorker, type Worker, type WorkerExtension, type WorkerOptions } from "./worker/worker.js";

export interface TaskledgerOptions {
  /**
   * The ledger: `sqlite:FILE` (default `sqlite:taskledger.db`, or `TASKLEDGER_DATABASE_URL`),
   * `postgres://user:pass@host:5432/db` (needs `pg`), `mysql://user:pass@host:3306/db` (MySQL or
   * MariaDB; needs `mysql2`), or an opened database.
   */
  readonly database?: string | Database;
  /**
   * What delivers tasks to workers: `"embedded"` (default, or `TASKLEDGER_ENGINE`): the SQLite
   * ledger is the queue, shared by every process on the file. `"memory"`: deliveries in this
   * process's memory (tests; one process). `"bullmq"`: BullMQ on Redis (`redis`; the default
   * when a Redis URL is given), or — with a `postgres://` ledger and no Redis — BullMQ's
   * PostgreSQL backend in the ledger's own database (jobs written in the ledger's transactions;
   * `npm install bullmq pg`). Or an engine object.
   */
  readonly engine?: "embedded" | "memory" | "bullmq" | Engine;
  /**
   * Deliver tasks with BullMQ on this Redis (`redis://host:port`, or `TASKLEDGER_REDIS_URL`); the
   * ledger stays in `database`. `prefix` (or `TASKLEDGER_REDIS_PREFIX`; default `taskledger`)
   * keeps two ledgers on one Redis apart. Needs the optional packages: `npm install bullmq ioredis`.
   */
  readonly redis?: string | { readonly url: string; readonly prefix?: string };
  /** The task definitions this instance can enqueue and run. */
  readonly tasks: readonly TaskDefinition[];
  /**
   * Recurring schedules declared in code: registered (`schedules.register`) when a worker with
   * the scheduler starts, and by `taskledger schedules sync`. Checked here, at creation.
   */
  readonly schedules?: readonly ScheduleEntry[];
  /** Declare the queue names (in priority order) to refuse unknown ones. */
  readonly queues?: readonly string[];
  /** Minimum distance of a reservation from now, seconds. Default 30 (the seeds' RESERVATION_LIMIT_SECONDS). */
  readonly reservationLeadSeconds?: number;
  /** How far ahead a reservation or a schedule's `startAt` may be, days. Default 366. */
  readonly reservationHorizonDays?: number;
  /** The largest payload (and result) a task may have, in bytes of JSON as UTF-8. Default 1 MiB (1 048 576). */
  readonly maxJsonBytes?: number;
  /** A worker's claim on a task lasts this long without a heartbeat, ms. Default 30 000. */
  readonly leaseMs?: number;
  /** How often workers renew their leases, ms. Default leaseMs / 3. */
  readonly heartbeatMs?: number;
  /** How often workers look for expired leases, ms. Default leaseMs / 2. */
  readonly sweepIntervalMs?: number;
  /**
   * How often a worker hands every waiting task again to an engine outside the ledger (Redis),
   * whatever it may have lost unnoticed, ms. Default 300 000 (5 minutes). Between these deep
   * passes the relay hands only recently written rows (src/maintenance/relay.ts).
   */
  readonly reconcileIntervalMs?: number;
  /** Fallback check for work when no wake-up arrives, ms. Default 1 000. */
  readonly pollIntervalMs?: number;
  /** What `worker.stop()` grants running tasks before aborting them, ms. Default 10 000. */
  readonly shutdownGraceMs?: number;
  /**
   * What the ledger forgets, so it stops growing: ended tasks and notifications older than
   * `maxAgeMs` (default 30 days), ended schedule runs beyond each schedule's newest
   * `scheduleRuns` (default 100). Every worker prunes every `intervalMs` (default 1 hour).
   * `false`: workers prune nothing (`prune()` still does when called).
   */
  readonly retention?: RetentionOptions | false;
  /** Run migrations on first use. Default true. */
  readonly migrate?: boolean;
  readonly clock?: Clock;
}

export interface StatusReport {
  readonly counts: queries.StatusCount[];
  readonly workers: WorkerInfo[];
  /** The active scheduler and when it was last seen. */
  readonly scheduler: SchedulerStatus;
  /**
   * Queues with tasks waiting (queued, or reserved and due) that no live worker takes from: they
   * wait until a worker for that queue starts.
   */
  readonly unservedQueues: { readonly queue: string; readonly waiting: number }[];
}

export interface Taskledger {
  readonly tasks: TaskService;
  readonly notifications: NotificationService;
  /** Recurring work: interval and cron schedules, each run an ordinary task. */
  readonly schedules: ScheduleService;
  readonly registry: TaskRegistry;
  readonly settings: Settings;
  /** Where the ledger is (a file path for SQLite) and which engine delivers its tasks. */
  readonly ledger: LedgerInfo;
  /** Create a worker in this process; call `start()` on it. */
  createWorker(options?: WorkerOptions): Worker;
  /** Queue counts, workers, queues with waiting tasks that no live worker serves, and the active scheduler. */
  status(options?: { owner?: string | null }): Promise<StatusReport>;
  /** Recover expired leases and promote due reservations now (workers also do it periodically). */
  sweep(): Promise<SweepReport>;
  /**
   * Remove ended tasks and notifications older than `olderThan` ms (default `retention.maxAgeMs`)
   * and schedule runs beyond the limit, in short transactions; `dryRun` only counts them.
   *
   * ```ts
   * const { tasks, notifications, scheduleRuns } = await tl.prune({ olderThan: 7 * 86_400_000 });
   * ```
   */
  prune(options?: { olderThan?: number; dryRun?: boolean }): Promise<PruneReport>;
  /** Create or update the tables. Safe to call any number of times, from any number of processes. */
  migrate(): Promise<void>;
  /** Stop this instance's workers and close the database. */
  close(): Promise<void>;
}

export interface LedgerInfo {
  readonly dialect: DialectName;
  /** The ledger's file (SQLite), or the database's name. */
  readonly location: string;
  /** The engine's name: `embedded`, `memory`, … */
  readonly engine: string;
}

/**
 * Create a taskledger instance.
 *
 * ```ts
 * const tl = createTaskledger({ database: "sqlite:taskledger.db", tasks: [sendMail] });
 * const task = await tl.tasks.enqueue(sendMail, mail, { description: "welcome mail", owner: "alice" });
 * const worker = tl.createWorker({ concurrency: 10 });
 * await worker.start();
 * ```
 */
export function createTaskledger(options: TaskledgerOptions): Taskledger {
  if (typeof options !== "object" || options === null) throw invalid("options", "must be an object");
  if (!Array.isArray(options.tasks)) throw invalid("tasks", "must be an array of task definitions");
  const settings = compileSettings(options);
  const registry = new TaskRegistry(options.tasks);
  const database =
    typeof options.database === "object" && options.database !== null
      ? options.database
      : openDatabase(options.database ?? process.env.TASKLEDGER_DATABASE_URL ?? DEFAULT_DATABASE_URL);
  const engine = selectEngine(options, database, ledgerUrl(options));
  const clock = options.clock ?? systemClock;
  const notifier = selectNotifier(options, database, engine, ledgerUrl(options));
  const bus = new NotificationBus(() => notifier.published?.());
  let closed = false;
  let migrated: Promise<void> | undefined;
  const workers = new Set<Worker>();

  const migrate = async () => {
    await runMigrations(database.db, ledgerMigrations(database.dialect), "taskledger_migrations");
    await engine.migrate();
  };

  const runtime: Runtime = {
    database,
    db: database.db,
    engine,
    registry,
    clock,
    settings,
    bus,
    notifier,
    transaction: <T>(fn: (tx: Db) => Promise<T>) => {
      if (closed) return Promise.reject(new TaskledgerError("closed", "this taskledger instance is closed"));
      return database.transaction(fn);
    },
    async write(fn) {
      // One per try: a server ledger runs the transaction again after a deadlock.
      const tries: Commit[] = [];
      let value: Awaited<ReturnType<typeof fn>>;
      try {
        value = await runtime.transaction(async (tx) => {
          const commit = new Commit(engine, tx);
          tries.push(commit);
          const value = await fn(tx, commit);
          await commit.sealed();
          return value;
        });
      } catch (error) {
        for (const rolledBack of tries) await rolledBack.failed(afterCommit.onDeliveryError);
        throw error;
      }
      const commit = tries.pop()!;
      for (const rolledBack of tries) await rolledBack.failed(afterCommit.onDeliveryError);
      await commit.committed(afterCommit);
      return value;
    },
    ready() {
      if (closed) return Promise.reject(new TaskledgerError("closed", "this taskledger instance is closed"));
      if (options.migrate === false) return Promise.resolve();
      migrated ??= migrate().catch((error) => {
        migrated = undefined;
        throw error;
      });
      return migrated;
    },
  };

  const schedules = new ScheduleService(runtime);
  if (options.schedules !== undefined) prepareEntries(runtime, options.schedules, clock.now());

  const afterCommit = {
    publish: (rows: readonly NotificationRow[]) => bus.publish(rows),
    changed: () => notifier.changed(),
    onDeliveryError: (error: unknown) =>
      console.error(
        `taskledger: delivery to the ${engine.name} engine failed (the relay delivers again): ${String(error)}`,
      ),
  };

  const instance: Taskledger = {
    tasks: new TaskService(runtime),
    schedules,
    notifications: new NotificationService(runtime),
    registry,
    settings,
    ledger: Object.freeze({
      dialect: database.dialect,
      location: database.file ?? database.identity,
      engine: engine.name,
    }),
    createWorker(workerOptions) {
      const extensions: WorkerExtension[] = workerOptions?.withScheduler
        ? [createScheduler(runtime, schedules, { declared: options.schedules })]
        : [];
      if (settings.retention) extensions.push(createPruner(runtime));
      const worker = createWorker(runtime, workerOptions, extensions);
      const start = worker.start.bind(worker);
      workers.add(worker);
      void worker.stopped.then(() => workers.delete(worker));
      return Object.assign(worker, {
        async start() {
          if (engine.name === NO_ENGINE) throw engineNeeded(database.dialect);
          await runtime.ready();
          await start();
        },
      });
    },
    async status(statusOptions = {}) {
      await runtime.ready();
      const now = clock.now();
      const [counts, waiting, workerRows, scheduler] = await Promise.all([
        queries.countByQueueAndStatus(database.db, statusOptions.owner),
        queries.waitingByQueue(database.db, statusOptions.owner, now),
        queries.listWorkers(database.db),
        readSchedulerStatus(database.db, now),
      ]);
      const workers = workerRows.map(toWorker);
      const served = new Set(
        workers.filter((w) => isLive(w, now, settings.leaseMs)).flatMap((w) => w.queues),
      );
      const unservedQueues = waiting
        .filter((w) => !served.has(w.queue))
        .map((w) => ({ queue: w.queue, waiting: w.count }));
      return { counts, workers, scheduler, unservedQueues };
    },
    async sweep() {
      await runtime.ready();
      return sweep(runtime);
    },
    async prune(pruneOptions = {}) {
      const olderThan = pruneOptions.olderThan ?? limitsOf(settings).maxAgeMs;
      assertInteger(olderThan, "olderThan", 0);
      await runtime.ready();
      return prune(runtime, { olderThanMs: olderThan, dryRun: pruneOptions.dryRun === true });
    },
    async migrate() {
      migrated = undefined;
      await runtime.ready();
    },
    async close() {
      if (closed) return;
      await Promise.all([...workers].map((w) => w.stop()));
      closed = true;
      await notifier.close?.();
      await engine.close();
      await database.close();
    },
  };
  return attachRuntime(instance, runtime);
}

/**
 * The engine named by the option (or `TASKLEDGER_ENGINE`), BullMQ when a Redis URL is given (or
 * `TASKLEDGER_REDIS_URL`) — on Redis, or without one on a PostgreSQL ledger's own database; a
 * setting that cannot be honoured is an error.
 */
function selectEngine(options: TaskledgerOptions, database: Database, url: string | undefined): Engine {
  const option = options.engine;
  if (typeof option === "object" && option !== null) return option;
  const redis = compileRedis(options.redis);
  if (option !== undefined && option !== "bullmq" && options.redis !== undefined) {
    throw invalid("redis", `is for the bullmq engine, but engine is ${JSON.stringify(option)}`);
  }
  const fromEnv = process.env.TASKLEDGER_ENGINE || undefined;
  const name = option ?? fromEnv ?? (redis ? "bullmq" : "embedded");
  if (name === "bullmq") {
    if (redis) return createThreadedBullmqEngine(redis);
    if (database.dialect === "postgres") {
      if (url === undefined)
        throw invalid(
          "engine",
          "the bullmq engine on PostgreSQL connects to the ledger's database itself: give database " +
            "as its postgres:// URL (or TASKLEDGER_DATABASE_URL) rather than as an opened database",
        );
      return createBullmqPostgresEngine({ url });
    }
    throw invalid(
      "redis",
      'the bullmq engine needs a Redis URL: redis: "redis://host:port" or TASKLEDGER_REDIS_URL ' +
        "(or a postgres:// ledger, for BullMQ's PostgreSQL backend in the ledger's database)",
    );
  }
  if (name === "memory") return createMemoryEngine();
  if (name === "embedded" && database.dialect !== "sqlite") {
    // Not asked for by name: the ledger is readable, and enqueue or a worker says what to configure.
    if (option === undefined && fromEnv === undefined) return createUnconfiguredEngine(database.dialect);
    throw engineNeeded(database.dialect);
  }
  if (name !== "embedded") {
    throw invalid("engine", `unknown engine ${JSON.stringify(name)} (choose embedded, memory or bullmq)`);
  }
  return createEmbeddedEngine(database);
}

/**
 * How processes hear that the ledger changed: on SQLite, the file; on PostgreSQL, LISTEN/NOTIFY
 * (listening needs the ledger's URL: given an opened database, it polls); on MySQL, the bullmq
 * engine's Redis, or a poll of the ledger without one.
 */
function selectNotifier(
  options: TaskledgerOptions,
  database: Database,
  engine: Engine,
  url: string | undefined,
): Notifier {
  if (database.dialect === "sqlite") return createSqliteNotifier(database);
  const poll = createPollingChannel(database);
  if (database.dialect === "postgres")
    return createChannelNotifier(createPostgresChannel(database, url, poll));
  const redis = engine.name === "bullmq" ? compileRedis(options.redis) : undefined;
  return createChannelNotifier(redis ? createRedisChannel(redis) : poll);
}

/** The URL the ledger was opened from, when it was given as one (not as an opened database). */
function ledgerUrl(options: TaskledgerOptions): string | undefined {
  if (typeof options.database === "string") return options.database;
  if (options.database !== undefined) return options.database.url;
  return process.env.TASKLEDGER_DATABASE_URL ?? DEFAULT_DATABASE_URL;
}

/** The `redis` option (or `TASKLEDGER_REDIS_URL`, with `TASKLEDGER_REDIS_PREFIX`), checked. */
function compileRedis(option: TaskledgerOptions["redis"]): { url: string; prefix?: string } | undefined {
  const value = option ?? (process.env.TASKLEDGER_REDIS_URL || undefined);
  if (value === undefined || value === "") return undefined;
  const envPrefix = process.env.TASKLEDGER_REDIS_PREFIX || undefined;
  const { url, prefix } = typeof value === "string" ? { url: value, prefix: envPrefix } : value;
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    throw invalid("redis", "must be a redis:// or rediss:// URL");
  }
  if (prefix !== undefined && (typeof prefix !== "string" || !/^[A-Za-z0-9_.{}-]{1,64}$/.test(prefix))) {
    throw invalid("redis.prefix", "must be 1-64 letters, digits, _ . - { }");
  }
  return prefix === undefined ? { url } : { url, prefix };
}

function compileSettings(options: TaskledgerOptions): Settings {
  const lead = options.reservationLeadSeconds ?? 30;
  if (typeof lead !== "number" || !Number.isFinite(lead) || lead < 0) {
    throw invalid("reservationLeadSeconds", "must be a non-negative number of seconds");
  }
  const horizon = options.reservationHorizonDays ?? DEFAULT_HORIZON_DAYS;
  assertPositiveInt(horizon, "reservationHorizonDays");
  if (horizon > MAX_HORIZON_DAYS)
    throw invalid("reservationHorizonDays", `must be at most ${MAX_HORIZON_DAYS} days (got ${horizon})`);
  if (horizon * 86_400 <= lead)
    throw invalid("reservationHorizonDays", "must be longer than reservationLeadSeconds");
  const maxJsonBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
  assertPositiveInt(maxJsonBytes, "maxJsonBytes");
  const leaseMs = options.leaseMs ?? 30_000;
  assertPositiveInt(leaseMs, "leaseMs");
  const heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(leaseMs / 3));
  assertPositiveInt(heartbeatMs, "heartbeatMs");
  if (heartbeatMs >= leaseMs) throw invalid("heartbeatMs", "must be shorter than leaseMs");
  const sweepIntervalMs = options.sweepIntervalMs ?? Math.max(1, Math.floor(leaseMs / 2));
  assertPositiveInt(sweepIntervalMs, "sweepIntervalMs");
  const reconcileIntervalMs = options.reconcileIntervalMs ?? 300_000;
  assertPositiveInt(reconcileIntervalMs, "reconcileIntervalMs");
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  assertPositiveInt(pollIntervalMs, "pollIntervalMs");
  const shutdownGraceMs = options.shutdownGraceMs ?? 10_000;
  if (!Number.isInteger(shutdownGraceMs) || shutdownGraceMs < 0)
    throw invalid("shutdownGraceMs", "must be a non-negative integer");
  let queues: string[] | undefined;
  if (options.queues !== undefined) {
    if (!Array.isArray(options.queues) || options.queues.length === 0)
      throw invalid("queues", "must be a non-empty array of names");
    options.queues.forEach((q, i) => {
      assertQueueName(q, `queues[${i}]`);
    });
    queues = [...options.queues];
  }
  return Object.freeze({
    reservationLeadSeconds: lead,
    reservationHorizonDays: horizon,
    maxJsonBytes,
    queues,
    leaseMs,
    heartbeatMs,
    sweepIntervalMs,
    reconcileIntervalMs,
    pollIntervalMs,
    shutdownGraceMs,
    retention: compileRetention(options.retention),
  });
}
