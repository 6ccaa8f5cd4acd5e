import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Delivery } from "../../src/engine/contract.js";
import { createBullmqPostgresEngine } from "../../src/engines/bullmq/postgres.js";
import { importPostgresDriver } from "../../src/engines/bullmq/postgres-driver.js";
import { toBullmqPriority } from "../../src/engines/bullmq/shared.js";
import { createTaskledger, defineTask, type Taskledger, type TaskledgerOptions } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { openDatabase } from "../../src/ledger/database.js";
import { gate } from "../flow/fixture.js";
import { freshDatabaseUrl, skipped } from "../helpers/dialects.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import { takeAndStart } from "./rounds.js";

/**
 * What belongs to the bullmq engine on BullMQ's PostgreSQL backend, beside the contract's promises
 * (conformance.test.ts): jobs in the ledger's own database, written in its transactions.
 */

const opened: Taskledger[] = [];
const pools: pg.Pool[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0)) await tl.close();
  for (const pool of pools.splice(0)) await pool.end();
});

const count = defineTask({ name: "count", run: (n: number) => n });

/** A plain connection to the test's database, to look at BullMQ's tables. */
function connect(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pools.push(pool);
  return pool;
}

async function jobs(url: string): Promise<{ queue: string; id: string; state: string }[]> {
  const { rows } = await connect(url).query("SELECT queue, id, state::text FROM bullmq.job ORDER BY seq");
  return rows;
}

describe("the bullmq engine's packages", () => {
  it("without pg (or bullmq) installed, the error names the package and the install command", async () => {
    const notFound = (name: string) =>
      Object.assign(new Error(`Cannot find package '${name}' imported from /app/x.js`), {
        code: "ERR_MODULE_NOT_FOUND",
      });
    const noPg = await importPostgresDriver((name) =>
      name === "pg" ? Promise.reject(notFound(name)) : import(name),
    ).catch((error) => error);
    expect(noPg).toMatchObject({ name: "TaskledgerError", code: "unavailable", field: "engine" });
    expect(noPg.message).toBe(
      "the bullmq engine on PostgreSQL needs the package pg, which is not installed: npm install bullmq pg",
    );
    const neither = await importPostgresDriver((name) => Promise.reject(notFound(name))).catch((e) => e);
    expect(neither.message).toBe(
      "the bullmq engine on PostgreSQL needs the packages bullmq and pg, which are not installed: npm install bullmq pg",
    );
  });

  it("a sqlite ledger with engine bullmq and no Redis says what to set", () => {
    expect(() => createTaskledger({ database: tempDatabase().url, engine: "bullmq", tasks: [] })).toThrow(
      /needs a Redis URL.*or a postgres:\/\/ ledger/,
    );
  });
});

describe.skipIf(skipped("postgres"))("the bullmq engine on PostgreSQL", () => {
  let url = "";
  beforeEach(async () => {
    url = await freshDatabaseUrl("postgres");
  });

  function open(options: Partial<TaskledgerOptions> = {}) {
    const tl = createTaskledger({
      database: url,
      engine: "bullmq",
      tasks: [],
      ...options,
    } as TaskledgerOptions);
    opened.push(tl);
    return tl;
  }

  it("is chosen by engine bullmq (or TASKLEDGER_ENGINE) with a postgres ledger and no Redis", async () => {
    expect(open().ledger).toMatchObject({ dialect: "postgres", engine: "bullmq" });
    expect(runtimeOf(open()).engine.delivery).toBe("transaction");
    // Given as an opened database (as the CLI does), the engine connects with the database's own URL.
    const database = openDatabase(url);
    const fromOpened = createTaskledger({ database, engine: "bullmq", tasks: [] });
    expect(fromOpened.ledger).toMatchObject({ dialect: "postgres", engine: "bullmq" });
    await fromOpened.close();
    const before = process.env.TASKLEDGER_ENGINE;
    process.env.TASKLEDGER_ENGINE = "bullmq";
    try {
      const tl = createTaskledger({ database: url, tasks: [] });
      opened.push(tl);
      expect(runtimeOf(tl).engine.delivery).toBe("transaction");
    } finally {
      if (before === undefined) delete process.env.TASKLEDGER_ENGINE;
      else process.env.TASKLEDGER_ENGINE = before;
    }
  });

  it("a delivery is the job t{id}-{attempt} in schema bullmq, shaped as on Redis; its round removes it", async () => {
    const tl = open({ tasks: [count] });
    const task = await tl.tasks.enqueue(count, 41, { description: "shape", priority: 7 });
    const { rows } = await connect(url).query(
      "SELECT queue, id, state::text, data, priority FROM bullmq.job",
    );
    expect(rows).toEqual([
      {
        queue: "taskledger.default",
        id: `t${task.id}-1`,
        state: "waiting",
        data: { taskId: task.id, attempt: 1, runAt: task.createdAt.getTime() },
        priority: toBullmqPriority(7),
      },
    ]);
    expect((await takeAndStart(tl, { leaseMs: 60_000 })).started).toEqual([task.id]);
    expect(await jobs(url)).toEqual([]);
  });

  it("a job written in a transaction that rolls back does not exist; a taken one comes back", async () => {
    const tl = open({ tasks: [count] });
    await tl.migrate();
    const rt = runtimeOf(tl);
    const d: Delivery = { id: 1, attempt: 1, queue: "default", priority: 0, runAt: Date.now() };
    const rolledBack = await rt
      .transaction(async (tx) => {
        await rt.engine.deliver([d], tx);
        expect((await connect(url).query("SELECT 1 FROM bullmq.job")).rows).toEqual([]); // not before the commit
        throw new Error("the ledger write failed");
      })
      .catch((error) => error);
    expect(String(rolledBack)).toContain("the ledger write failed");
    expect(await jobs(url)).toEqual([]);
    // A round that fails after taking hands its jobs back.
    const task = await tl.tasks.enqueue(count, 1, { description: "taken, then rolled back" });
    await rt
      .transaction(async (tx) => {
        expect(
          await rt.engine.take({ worker: "w", queues: ["default"], limit: 10, now: Date.now() }, tx),
        ).toHaveLength(1);
        throw new Error("the round failed");
      })
      .catch(() => {});
    expect(await jobs(url)).toEqual([{ queue: "taskledger.default", id: `t${task.id}-1`, state: "waiting" }]);
    expect((await takeAndStart(tl, { leaseMs: 60_000 })).started).toEqual([task.id]);
  });

  it("a reservation waits as a delayed job until its time, and nextDue says when", async () => {
    const ran = gate<number>();
    const stamp = defineTask({ name: "stamp", run: () => ran.open(Date.now()) });
    const tl = open({ tasks: [stamp], reservationLeadSeconds: 0 });
    await tl.createWorker().start();
    const at = Date.now() + 1_000;
    const task = await tl.tasks.reserve(at, stamp, null, { description: "later", queue: "default" });
    expect(await jobs(url)).toEqual([{ queue: "taskledger.default", id: `t${task.id}-1`, state: "delayed" }]);
    expect(await runtimeOf(tl).engine.nextDue(["default"], Date.now())).toBe(at);
    expect(await ran.promise).toBeGreaterThanOrEqual(at);
    await waitFor(async () => (await tl.tasks.get(task.id))?.status === "finished", {
      message: "the reservation",
    });
  });

  it("a canceled waiting task's job is removed", async () => {
    const tl = open({ tasks: [count], reservationLeadSeconds: 0 });
    const now = await tl.tasks.enqueue(count, 1, { description: "withdrawn" });
    const later = await tl.tasks.reserve(Date.now() + 60_000, count, 2, {
      description: "reserved",
      queue: "default",
    });
    expect(await jobs(url)).toHaveLength(2);
    expect(await tl.tasks.cancel(now.id)).toMatchObject({ ok: true });
    expect(await tl.tasks.cancelReservation(later.id)).toMatchObject({ ok: true });
    expect(await jobs(url)).toEqual([]);
  });

  it("a job whose task does not exist runs nothing and is dropped", async () => {
    let runs = 0;
    const counted = defineTask({ name: "counted", run: () => void runs++ });
    const tl = open({ tasks: [counted] });
    await tl.migrate();
    // Written outside any ledger transaction: no task 987654 exists.
    await runtimeOf(tl).engine.deliver(
      [{ id: 987_654, attempt: 1, queue: "default", priority: 1_000_000, runAt: Date.now() }],
      undefined,
    );
    expect(await jobs(url)).toEqual([{ queue: "taskledger.default", id: "t987654-1", state: "waiting" }]);
    await tl.createWorker().start();
    const real = await tl.tasks.enqueue(counted, null, { description: "real" });
    await waitFor(async () => (await tl.tasks.get(real.id))?.status === "finished", {
      message: "the real task",
    });
    expect(await jobs(url)).toEqual([]);
    expect(runs).toBe(1);
    expect(await tl.tasks.get(987_654)).toBeUndefined();
  });

  it("an idle worker in another instance wakes on BullMQ's NOTIFY, not its poll", async () => {
    const ran = gate();
    const wakes = defineTask({ name: "wakes", run: () => ran.open() });
    const worker = open({ tasks: [wakes], pollIntervalMs: 60_000 });
    await worker.createWorker().start();
    const api = open({ tasks: [wakes], pollIntervalMs: 60_000 });
    const started = Date.now();
    await api.tasks.enqueue(wakes, null, { description: "from the other instance" });
    await ran.promise;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a cancel crosses instances on NOTIFY, sent at the cancel's commit: the holder's signal fires", async () => {
    const entered = gate();
    const waits = defineTask({
      name: "waits",
      run: (_: null, ctx) =>
        new Promise((_, reject) => {
          entered.open();
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
        }),
    });
    // Two instances with their own pools on one database, as two processes would be; the
    // holder's heartbeat and poll (its SQL checks for cancels) are far off, so the signal is what arrives.
    const slow = { leaseMs: 120_000, heartbeatMs: 60_000, pollIntervalMs: 60_000 };
    const holder = open({ tasks: [waits], ...slow });
    const api = open({ tasks: [waits] });
    const heard: number[][] = [];
    runtimeOf(holder).engine.onCancel((ids) => heard.push([...ids]));
    await holder.createWorker().start();
    const task = await api.tasks.enqueue(waits, null, { description: "canceled from elsewhere" });
    await entered.promise;
    const asked = Date.now();
    expect(await api.tasks.cancel(task.id)).toMatchObject({ ok: true });
    await waitFor(() => heard.some((ids) => ids.includes(task.id)), { message: "the cancel signal" });
    await waitFor(async () => (await holder.tasks.get(task.id))?.status === "canceled", {
      message: "the cancel",
    });
    expect(Date.now() - asked).toBeLessThan(5_000);
  });

  it("a cancel whose transaction rolls back sends nothing", async () => {
    const tl = open({ tasks: [count] });
    await tl.migrate();
    const rt = runtimeOf(tl);
    const heard: number[][] = [];
    rt.engine.onCancel((ids) => heard.push([...ids]));
    // Once a committed signal is heard, the LISTEN connection is up.
    await waitFor(
      async () => {
        await rt.write(async (_tx, commit) => commit.cancel([1]));
        return heard.length > 0;
      },
      { message: "the LISTEN connection" },
    );
    await rt
      .write(async (_tx, commit) => {
        commit.cancel([5]);
        await commit.sealed();
        throw new Error("rolled back");
      })
      .catch(() => {});
    await rt.write(async (_tx, commit) => commit.cancel([6]));
    await waitFor(() => heard.some((ids) => ids.includes(6)), { message: "the committed cancel" });
    expect(heard.filter((ids) => !ids.includes(1))).toEqual([[6]]);
  });

  it("migrate is safe from several instances at once", async () => {
    const engines = [1, 2, 3].map(() => createBullmqPostgresEngine({ url }));
    try {
      await Promise.all(engines.map((engine) => engine.migrate()));
      const { rows } = await connect(url).query("SELECT max(version) AS version FROM bullmq.migration");
      expect(Number(rows[0].version)).toBeGreaterThanOrEqual(11);
    } finally {
      await Promise.all(engines.map((engine) => engine.close()));
    }
  });
});
