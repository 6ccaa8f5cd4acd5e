import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createTaskledger, type Taskledger } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import {
  freshDatabaseUrl,
  freshRedisPrefix,
  privateServer,
  removeServer,
  skipped,
  startService,
  stopService,
} from "../helpers/dialects.js";
import { rawColumn, rawRows, tempDir, waitFor } from "../helpers/index.js";
import type { ServiceSpec } from "../helpers/services.js";
import {
  type Execution,
  type FixtureProcess,
  readExecutions,
  runsFile,
  startFixtureProcess,
  startsByTask,
  untilEvent,
  type WorkerProcess,
} from "./processes.js";
import { work } from "./tasks.js";

/**
 * The scale-out engines under faults, with real processes and servers: four worker processes
 * (`fixtures/scale-worker.mjs`) on a server ledger with the bullmq engine, every execution of a
 * handler appended to a log; the ledger's final rows are checked against that log.
 *
 * | combination | kill -9 | Redis restart | PostgreSQL stop | crash after commit | ghost job |
 * |---|---|---|---|---|---|
 * | bullmq (Redis) + PostgreSQL | ✓ | ✓ | ✓ | ✓ | ✓ |
 * | bullmq (its PostgreSQL backend) + PostgreSQL | ✓ | — no Redis | ✓ | — no window: the job is written in the ledger's transaction | ✓ |
 * | bullmq (Redis) + MariaDB | ✓ | ✓ | — (PostgreSQL) | ✓ | ✓ |
 */
interface Combination {
  readonly name: string;
  readonly ledger: "postgres" | "mysql";
  readonly redis: boolean;
}
const COMBINATIONS: readonly Combination[] = [
  { name: "bullmq (Redis) + PostgreSQL", ledger: "postgres", redis: true },
  { name: "bullmq (its PostgreSQL backend) + PostgreSQL", ledger: "postgres", redis: false },
  { name: "bullmq (Redis) + MariaDB", ledger: "mysql", redis: true },
];

interface Setup {
  readonly database: string;
  readonly redis?: { readonly url: string; readonly prefix: string };
  readonly runs: string;
}

const opened: Taskledger[] = [];
const servers: ServiceSpec[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0)) await tl.close().catch(() => {});
});
afterAll(async () => {
  for (const spec of servers.splice(0)) await removeServer(spec);
});

async function setUp(
  combination: Combination,
  servers: { ledger?: ServiceSpec; redis?: ServiceSpec } = {},
): Promise<Setup> {
  const database = await freshDatabaseUrl(combination.ledger, servers.ledger);
  const redis = combination.redis ? freshRedisPrefix(servers.redis) : undefined;
  return { database, redis, runs: runsFile(tempDir("tl-scale-")) };
}

/** The test process's own instance: it enqueues and reads, and runs nothing. */
async function client({ database, redis }: Setup): Promise<Taskledger> {
  const tl = createTaskledger({
    database,
    ...(redis ? { redis } : { engine: "bullmq" as const }),
    tasks: [work],
  });
  opened.push(tl);
  await tl.migrate();
  return tl;
}

interface Timing {
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  readonly sweepMs?: number;
  readonly reconcileMs?: number;
  readonly concurrency?: number;
}

async function startWorkers(count: number, setup: Setup, timing: Timing = {}): Promise<WorkerProcess[]> {
  const vars: Record<string, string> = { TL_DATABASE: setup.database, TL_RUNS: setup.runs };
  if (setup.redis) Object.assign(vars, { TL_REDIS: setup.redis.url, TL_PREFIX: setup.redis.prefix });
  const optional = {
    TL_LEASE_MS: timing.leaseMs,
    TL_HEARTBEAT_MS: timing.heartbeatMs,
    TL_SWEEP_MS: timing.sweepMs,
    TL_RECONCILE_MS: timing.reconcileMs,
    TL_CONCURRENCY: timing.concurrency,
  };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) vars[name] = String(value);
  const procs: WorkerProcess[] = Array.from({ length: count }, () =>
    startFixtureProcess("scale-worker.mjs", vars),
  );
  started.push(...procs);
  for (const proc of procs) proc.workerId = String((await untilEvent(proc, "ready", 60_000)).worker);
  return procs;
}

async function enqueueWork(tl: Taskledger, count: number, ms: (i: number) => number): Promise<void> {
  for (let i = 0; i < count; i += 1_000) {
    await tl.tasks.enqueueMany(
      Array.from({ length: Math.min(1_000, count - i) }, (_, j) => ({
        task: work,
        payload: { ms: ms(i + j) },
        options: { description: `scale task ${i + j}` },
      })),
    );
  }
}

const finished = async (database: string) =>
  (await rawColumn(database, "select count(*) from tasks where status = 'finished'"))[0]!;

/** Every worker process started by this file's current test: their stderr tells why a wait failed. */
const started: WorkerProcess[] = [];
afterEach(() => {
  started.length = 0;
});

async function untilAllFinished(database: string, count: number, timeoutMs: number): Promise<void> {
  try {
    await waitFor(async () => (await finished(database)) === count, {
      timeoutMs,
      intervalMs: 250,
      message: `all ${count} tasks to finish`,
    });
  } catch (error) {
    const statuses = await rawRows(database, "select status, count(*) as n from tasks group by status");
    const logs = started.map((w) => `worker ${w.pid}:\n${w.stderr().split("\n").slice(-15).join("\n")}`);
    throw new Error(
      `${(error as Error).message}; tasks by status ${JSON.stringify(statuses)}\n${logs.join("\n")}`,
    );
  }
}

interface TaskRow {
  id: number;
  status: string;
  failed: number;
  attempts: number;
  result: string | null;
}

/**
 * The ledger's final rows against the execution log: every task finished once, no attempt ran
 * twice, the recorded result is the last execution's (no stale outcome replaced a newer one), and
 * only the executions of `rerunBy` (a killed worker's pid) were ever repeated. Returns the re-run
 * task ids.
 */
async function checkLedgerAgainstLog(
  setup: Setup,
  count: number,
  rerunBy?: number,
): Promise<{ rerun: number[]; executions: Execution[] }> {
  const rows = (
    await rawRows<TaskRow>(
      setup.database,
      "select id, status, failed, attempts, result from tasks order by id",
    )
  ).map((r) => ({ ...r, id: Number(r.id), failed: Number(r.failed), attempts: Number(r.attempts) }));
  expect(rows).toHaveLength(count);
  expect(rows.filter((t) => t.status !== "finished" || t.failed !== 0)).toEqual([]);
  const executions = readExecutions(setup.runs);
  const starts = startsByTask(executions);
  const rerun: number[] = [];
  const wrong: unknown[] = [];
  for (const task of rows) {
    const runs = (starts.get(task.id) ?? []).sort((a, b) => a.attempt - b.attempt);
    const attempts = runs.map((e) => e.attempt);
    const last = runs.at(-1);
    const result = task.result === null ? null : JSON.parse(task.result);
    const ok =
      last !== undefined &&
      new Set(attempts).size === attempts.length &&
      last.attempt === task.attempts &&
      result?.pid === last.pid &&
      result?.attempt === last.attempt &&
      runs.slice(0, -1).every((e) => e.pid === rerunBy) &&
      (runs.length === 1 || last.pid !== rerunBy);
    if (!ok) wrong.push({ task, runs });
    if (runs.length > 1) rerun.push(task.id);
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  return { rerun, executions };
}

for (const combination of COMBINATIONS) {
  const needs = [combination.ledger, ...(combination.redis ? (["redis"] as const) : [])] as const;
  // Real processes, 1,000 to 10,000 tasks, a server stopped and started: minutes, not seconds.
  describe.skipIf(needs.some((name) => skipped(name)))(combination.name, { timeout: 300_000 }, () => {
    it("kill -9 one of 4 workers while 1,000 tasks run: none lost, only its tasks re-run, no stale outcome", async () => {
      const setup = await setUp(combination);
      const tl = await client(setup);
      const concurrency = 8;
      const [victim, ...survivors] = await startWorkers(4, setup, {
        leaseMs: 1_500,
        heartbeatMs: 300,
        sweepMs: 300,
        concurrency,
      });
      await enqueueWork(tl, 1_000, (i) => 20 + ((i * 7) % 31));
      await waitFor(
        () =>
          readExecutions(setup.runs).filter((e) => e.event === "start" && e.pid === victim!.pid).length >= 20,
        { timeoutMs: 60_000, message: "the victim to start 20 tasks" },
      );
      victim!.child.kill("SIGKILL");
      expect(await victim!.exit).toBe("SIGKILL");
      await untilAllFinished(setup.database, 1_000, 120_000);

      const { rerun, executions } = await checkLedgerAgainstLog(setup, 1_000, victim!.pid);
      // Only what the victim held when it died (running, or ended with its outcome unwritten: the
      // ledger's running rows never exceed its concurrency) ran again, once, on a survivor.
      expect(rerun.length).toBeLessThanOrEqual(concurrency);
      const survivorPids = new Set(survivors.map((s) => s.pid));
      for (const id of rerun) {
        const runs = executions.filter((e) => e.event === "start" && e.id === id);
        expect(runs).toHaveLength(2);
        expect(survivorPids.has(runs[1]!.pid)).toBe(true);
      }
      expect(
        await rawColumn(setup.database, "select count(*) from tasks where status <> 'finished'"),
      ).toEqual([0]);
    });

    it("a job whose task does not exist never runs a handler; a stale one never runs again", async () => {
      const setup = await setUp(combination);
      const tl = await client(setup);
      await startWorkers(1, setup, { sweepMs: 300 });
      const done = await tl.tasks.enqueue(work, { ms: 1 }, { description: "runs once" });
      await untilAllFinished(setup.database, 1, 30_000);
      const engine = runtimeOf(tl).engine;
      const now = Date.now();
      await engine.deliver(
        [
          { id: 987_654, attempt: 1, queue: "default", priority: 0, runAt: now }, // no such task
          { id: done.id, attempt: 1, queue: "default", priority: 0, runAt: now }, // finished already
        ],
        undefined,
      );
      const real = await tl.tasks.enqueue(work, { ms: 1 }, { description: "after the ghost" });
      await untilAllFinished(setup.database, 2, 30_000);
      // Both jobs were taken and dropped.
      await waitFor(async () => (await jobCount(setup)) === 0, { timeoutMs: 30_000, message: "no job left" });
      const starts = readExecutions(setup.runs).filter((e) => e.event === "start");
      expect(starts.map((e) => e.id).sort()).toEqual([done.id, real.id].sort());
      expect(await rawColumn(setup.database, "select count(*) from tasks where id = 987654")).toEqual([0]);
    });

    if (combination.redis) {
      it("Redis restarts empty mid-load (10,000 tasks): none lost, workers resume within 25 s", async () => {
        const redisServer = await privateServer("redis");
        servers.push(redisServer);
        const setup = await setUp(combination, { redis: redisServer });
        const tl = await client(setup);
        // The library's own timing (lease 30 s, sweep 15 s, reconcile 5 min): a restart is seen by
        // the relay's next pass, through Redis's new run_id.
        await startWorkers(4, setup, { concurrency: 10 });
        await enqueueWork(tl, 10_000, () => 2);
        await waitFor(async () => (await finished(setup.database)) >= 2_000, {
          timeoutMs: 120_000,
          message: "2,000 tasks to finish",
        });
        await stopService(redisServer);
        const during = await finished(setup.database);
        await startService(redisServer);
        const back = Date.now();
        // Every job Redis held is gone: only the ledger knows what waits.
        await waitFor(async () => (await finished(setup.database)) > during + 100, {
          timeoutMs: 25_000,
          message: "workers to resume within 25 s of Redis's restart",
        });
        const resumedMs = Date.now() - back;
        await untilAllFinished(setup.database, 10_000, 180_000);
        const { rerun } = await checkLedgerAgainstLog(setup, 10_000);
        expect(rerun).toEqual([]);
        process.stderr.write(`${combination.name}: resumed ${resumedMs} ms after Redis restarted\n`);
      });

      it("a process that dies between the ledger commit and the publish: the relay gets each task run once", async () => {
        const setup = await setUp(combination);
        await client(setup); // migrated
        await startWorkers(2, setup, { sweepMs: 300 });
        const crasher: FixtureProcess = startFixtureProcess("crash-after-commit.mjs", {
          TL_DATABASE: setup.database,
          TL_REDIS: setup.redis!.url,
          TL_PREFIX: setup.redis!.prefix,
          TL_COUNT: "200",
        });
        expect(await crasher.exit).toBe("SIGKILL");
        expect(await rawColumn(setup.database, "select count(*) from tasks")).toEqual([200]);
        await untilAllFinished(setup.database, 200, 60_000);
        const { rerun } = await checkLedgerAgainstLog(setup, 200);
        expect(rerun).toEqual([]);
      });
    }

    if (combination.ledger === "postgres") {
      it("PostgreSQL stops for 10 s mid-load: workers wait and resume, none lost, none stuck", async () => {
        const pg = await privateServer("postgres");
        servers.push(pg);
        const setup = await setUp(combination, { ledger: pg });
        const tl = await client(setup);
        await startWorkers(4, setup, { concurrency: 8 });
        await enqueueWork(tl, 3_000, () => 5);
        await waitFor(async () => (await finished(setup.database)) >= 500, {
          timeoutMs: 120_000,
          message: "500 tasks to finish",
        });
        await opened.splice(opened.indexOf(tl), 1)[0]!.close();
        await stopService(pg);
        await new Promise((resolve) => setTimeout(resolve, 10_000)); // the outage itself
        await startService(pg);
        const back = Date.now();
        await untilAllFinished(setup.database, 3_000, 120_000);
        process.stderr.write(
          `${combination.name}: the rest finished ${Date.now() - back} ms after PostgreSQL was back\n`,
        );
        // Leases (30 s) outlived the outage: every task ran exactly once.
        const { rerun } = await checkLedgerAgainstLog(setup, 3_000);
        expect(rerun).toEqual([]);
        expect(
          await rawColumn(setup.database, "select count(*) from tasks where status in ('running', 'queued')"),
        ).toEqual([0]);
      });
    }
  });
}

/** Jobs the engine still holds for the test's tasks (Redis keys, or rows of BullMQ's PostgreSQL schema). */
async function jobCount(setup: Setup): Promise<number> {
  if (!setup.redis) return (await rawColumn(setup.database, "select count(*) from bullmq.job"))[0]!;
  const redis = new Redis(setup.redis.url, { maxRetriesPerRequest: 1 });
  try {
    const keys = await redis.keys(`${setup.redis.prefix}:default:t*`);
    return keys.length;
  } finally {
    redis.disconnect();
  }
}
