import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/contract.js";
import { importDriver } from "../../src/engines/bullmq/driver.js";
import { createBullmqEngine, jobIdOf, toBullmqPriority } from "../../src/engines/bullmq/engine.js";
import { createThreadedBullmqEngine } from "../../src/engines/bullmq/threaded.js";
import { createTaskledger, defineTask, type Taskledger, type TaskledgerOptions } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { gate } from "../flow/fixture.js";
import { tempDatabase, tempDir, waitFor } from "../helpers/index.js";
import { dropPrefixes, needsRedis, testPrefix } from "./bullmq-redis.js";
import { takeAndStart } from "./rounds.js";

/** What belongs to the BullMQ engine itself, beside the contract's promises (conformance.test.ts). */

const opened: Taskledger[] = [];
const clients: Redis[] = [];
const servers: ChildProcess[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0)) await tl.close();
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of servers.splice(0)) await stopRedis(s);
  await dropPrefixes();
});

let url = "";
beforeEach((ctx) => {
  url = needsRedis(ctx);
});

function open(options: Partial<TaskledgerOptions> & { prefix?: string } = {}, database = tempDatabase().url) {
  const { prefix = testPrefix(), ...rest } = options;
  const tl = createTaskledger({ database, redis: { url, prefix }, tasks: [], ...rest } as TaskledgerOptions);
  opened.push(tl);
  return { tl, prefix };
}

function redis(at = url): Redis {
  const client = new Redis(at, { maxRetriesPerRequest: 1 });
  clients.push(client);
  return client;
}

const count = defineTask({ name: "count", run: (n: number) => n });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own (stopped by PID in afterEach). */
async function startRedis(port: number, extra: string[] = []): Promise<ChildProcess> {
  const server = spawn(
    "redis-server",
    ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"]
      .concat(["--dir", tempDir("tl-redis-")])
      .concat(extra),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  servers.push(server);
  let log = "";
  server.stdout!.on("data", (chunk) => {
    log += chunk;
  });
  await waitFor(() => log.includes("Ready to accept connections"), { message: `redis-server on ${port}` });
  return server;
}

async function stopRedis(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, "exit");
  server.kill("SIGKILL");
  await exited;
}

describe("the bullmq engine", () => {
  it("a delivery is the job t{id}-{attempt} carrying which attempt, never the payload", async () => {
    const { tl, prefix } = open({ tasks: [count] });
    const task = await tl.tasks.enqueue(count, 41, { description: "shape", priority: 7 });
    const job = await redis().hgetall(`${prefix}:default:${jobIdOf({ id: task.id, attempt: 1 })}`);
    expect(JSON.parse(job.data!)).toEqual({ taskId: task.id, attempt: 1, runAt: task.createdAt.getTime() });
    expect(Number(job.priority)).toBe(toBullmqPriority(7));
    expect(await redis().zrange(`${prefix}:default:prioritized`, 0, -1)).toEqual([`t${task.id}-1`]);
    // Completed once its round commits: nothing is left in Redis.
    expect((await takeAndStart(tl, { leaseMs: 60_000 })).started).toEqual([task.id]);
    await waitFor(async () => (await redis().exists(`${prefix}:default:t${task.id}-1`)) === 0, {
      message: "the job completed",
    });
    expect(await redis().zcard(`${prefix}:default:prioritized`)).toBe(0);
  });

  it("the relay's redelivery adds only the jobs Redis lost: none that it has goes through BullMQ's add again", async () => {
    const prefix = testPrefix();
    const engine = createBullmqEngine({ url, prefix });
    try {
      const ds = [1, 2, 3].map((id) => ({
        id,
        attempt: 1,
        queue: "default",
        priority: 0,
        runAt: Date.now(),
      }));
      await engine.deliver(ds, undefined);
      await engine.withdraw([{ id: 2, attempt: 1, queue: "default" }], undefined); // as if lost
      expect(await redis().exists(`${prefix}:default:t2-1`)).toBe(0);
      await engine.redeliver!(ds);
      expect((await redis().zrange(`${prefix}:default:prioritized`, 0, -1)).sort()).toEqual([
        "t1-1",
        "t2-1",
        "t3-1",
      ]);
      // BullMQ's add of a job id that exists keeps the job and records "duplicated".
      const events = await redis().xrange(`${prefix}:default:events`, "-", "+");
      expect(events.filter(([, fields]) => fields.includes("duplicated"))).toEqual([]);
    } finally {
      await engine.close();
    }
  });

  describe.each([
    ["on the caller's thread", createBullmqEngine],
    ["on a thread of its own, as createTaskledger runs it", createThreadedBullmqEngine],
  ] as const)(
    "jobs fetched ahead for a worker whose rounds come back full (the engine %s)",
    (_, createEngine) => {
      const deliveries = (n: number) =>
        Array.from({ length: n }, (_, i) => ({
          id: i + 1,
          attempt: 1,
          queue: "default",
          priority: 0,
          runAt: Date.now(),
        }));
      const request = (worker: string, ahead = true) => ({
        worker,
        queues: ["default"],
        limit: 10,
        now: Date.now(),
        ahead,
      });
      const engines: Engine[] = [];
      afterEach(async () => {
        for (const e of engines.splice(0)) await e.close();
      });
      /** Two processes' engines on one Redis prefix. */
      function twoEngines() {
        const prefix = testPrefix();
        const [a, b] = [createEngine({ url, prefix }), createEngine({ url, prefix })];
        engines.push(a, b);
        return { a, b, prefix };
      }
      /** The ids `engine` takes over as many takes as it needs to get `count` (or times out). */
      async function takeOverTime(engine: Engine, count: number, timeoutMs: number) {
        const got = new Set<number>();
        await waitFor(
          async () => {
            for (const d of await engine.take(request("b"), {})) got.add(d.id);
            return got.size === count;
          },
          { timeoutMs, message: `${count} jobs handed back` },
        );
        return [...got].sort((x, y) => x - y);
      }
      /** Engine `a` takes a full round of 20 waiting jobs and commits it: its completions fetch the other 10. */
      async function fullRound() {
        const { a, b, prefix } = twoEngines();
        await a.deliver(deliveries(20), undefined);
        const first = await a.take(request("a"), {});
        expect(first.map((d) => d.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        await a.taken!(first);
        // Every job is now taken or held by `a`: none waits in Redis.
        await waitFor(async () => (await redis().zcard(`${prefix}:default:prioritized`)) === 0, {
          message: "the next round's jobs fetched ahead",
        });
        return { a, b, prefix };
      }

      it("the next round takes them without asking Redis, and completes them", async () => {
        const { a, prefix } = await fullRound();
        const second = await a.take(request("a"), {});
        expect(second.map((d) => d.id)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
        await a.taken!(second);
        await waitFor(async () => (await redis().llen(`${prefix}:default:active`)) === 0, {
          message: "every job completed",
        });
        // Completed (and so removed), not handed back to waiting.
        expect(await redis().exists(...second.map((d) => `${prefix}:default:${jobIdOf(d)}`))).toBe(0);
        expect(await redis().zcard(`${prefix}:default:prioritized`)).toBe(0);
      });

      it("go back to Redis for other workers when no round takes them soon (this worker's slots stay busy)", async () => {
        // `a` holds the next 10 (none waits in Redis); its slots stay busy: it takes no further round.
        const { b } = await fullRound();
        // `b` gets every one of them soon, long before BullMQ's lock (30 s) would have let them go.
        const started = Date.now();
        expect(await takeOverTime(b, 10, 5_000)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
        expect(Date.now() - started).toBeLessThan(2_000);
      });

      it("once handed back, are not taken again by the worker that held them", async () => {
        const { a, b } = await fullRound();
        expect(await takeOverTime(b, 10, 5_000)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
        // `b` holds them now: `a` must not hand them to a round of its own.
        expect(await a.take(request("a"), {})).toEqual([]);
      });

      it("are not fetched for a worker whose tasks are still running (its slots turn over slowly)", async () => {
        const { a, b, prefix } = twoEngines();
        await a.deliver(deliveries(20), undefined);
        const first = await a.take(request("a", false), {});
        expect(first).toHaveLength(10);
        await a.taken!(first);
        await waitFor(async () => (await redis().llen(`${prefix}:default:active`)) === 0, {
          message: "the round's jobs completed",
        });
        expect(await redis().zcard(`${prefix}:default:prioritized`)).toBe(10);
        expect(await takeOverTime(b, 10, 5_000)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      });

      it("a take that stopped waiting (Redis answered late) hands back what arrives after", async () => {
        const { a, b } = twoEngines();
        expect(await b.take(request("b"), {})).toEqual([]); // b's connections are open before Redis pauses
        await a.deliver(deliveries(3), undefined);
        const quiet = console.error;
        console.error = () => {};
        try {
          // Redis holds every command for 1.5 s: the round waits 500 ms at most, then goes on without.
          await redis().client("PAUSE", 1_500, "ALL");
          expect(await a.take(request("a"), {})).toEqual([]);
          // Once Redis answers, what that take (and b's own, as late) fetched after all goes back to
          // waiting, for anyone: none stays locked until BullMQ's lock lapses (30 s).
          expect(await takeOverTime(b, 3, 8_000)).toEqual([1, 2, 3]);
        } finally {
          console.error = quiet;
        }
      });

      it("go back to Redis at once when the engine closes", async () => {
        const { a, b } = await fullRound();
        await a.close();
        // Long before BullMQ's lock (30 s) would have let them go.
        const closed = Date.now();
        expect(await takeOverTime(b, 10, 5_000)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
        expect(Date.now() - closed).toBeLessThan(2_000);
      });
    },
  );

  it("a reservation waits as a delayed job until its time, and nextDue says when", async () => {
    const ran = gate<number>();
    const stamp = defineTask({ name: "stamp", run: () => ran.open(Date.now()) });
    const { tl, prefix } = open({ tasks: [stamp], reservationLeadSeconds: 0 });
    await tl.createWorker().start();
    const at = Date.now() + 1_200;
    const task = await tl.tasks.reserve(at, stamp, null, { description: "later", queue: "default" });
    const [, score] = await redis().zrange(`${prefix}:default:delayed`, 0, 0, "WITHSCORES");
    expect(Math.floor(Number(score) / 0x1000)).toBe(at);
    expect(await runtimeOf(tl).engine.nextDue(["default"], Date.now())).toBe(at);
    expect(await ran.promise).toBeGreaterThanOrEqual(at);
    await waitFor(async () => (await tl.tasks.get(task.id))?.status === "finished", {
      message: "the reservation",
    });
  });

  it("a retry is a new delayed job for the next attempt, run at the ledger's time", async () => {
    const starts: number[] = [];
    const flaky = defineTask({
      name: "flaky",
      retry: { max: 1, delay: 500 },
      run: () => {
        starts.push(Date.now());
        if (starts.length === 1) throw new Error("first try fails");
        return "second";
      },
    });
    const { tl } = open({ tasks: [flaky] });
    await tl.createWorker().start();
    const task = await tl.tasks.enqueue(flaky, null, { description: "retried" });
    await waitFor(async () => (await tl.tasks.get(task.id))?.status === "finished", { message: "the retry" });
    expect(await tl.tasks.get(task.id)).toMatchObject({ attempts: 2, failed: false, result: "second" });
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(500);
  });

  it("a canceled waiting task's job is removed from Redis", async () => {
    const { tl, prefix } = open({ tasks: [count], reservationLeadSeconds: 0 });
    const now = await tl.tasks.enqueue(count, 1, { description: "withdrawn" });
    const later = await tl.tasks.reserve(Date.now() + 60_000, count, 2, {
      description: "reserved",
      queue: "default",
    });
    expect(await redis().exists(`${prefix}:default:t${now.id}-1`, `${prefix}:default:t${later.id}-1`)).toBe(
      2,
    );
    expect(await tl.tasks.cancel(now.id)).toMatchObject({ ok: true });
    expect(await tl.tasks.cancelReservation(later.id)).toMatchObject({ ok: true });
    expect(await redis().exists(`${prefix}:default:t${now.id}-1`, `${prefix}:default:t${later.id}-1`)).toBe(
      0,
    );
    expect(await redis().zcard(`${prefix}:default:prioritized`)).toBe(0);
    expect(await redis().zcard(`${prefix}:default:delayed`)).toBe(0);
  });

  it("a job whose task does not exist runs nothing and is dropped", async () => {
    let runs = 0;
    const counted = defineTask({ name: "counted", run: () => void runs++ });
    const { tl, prefix } = open({ tasks: [counted] });
    const rt = runtimeOf(tl);
    await rt.engine.deliver(
      [{ id: 987_654, attempt: 1, queue: "default", priority: 0, runAt: Date.now() }],
      undefined,
    );
    expect(await redis().exists(`${prefix}:default:t987654-1`)).toBe(1);
    await tl.createWorker().start();
    const real = await tl.tasks.enqueue(counted, null, { description: "real" });
    await waitFor(async () => (await tl.tasks.get(real.id))?.status === "finished", {
      message: "the real task",
    });
    await waitFor(async () => (await redis().exists(`${prefix}:default:t987654-1`)) === 0, {
      message: "the ghost job dropped",
    });
    expect(runs).toBe(1);
  });

  it("a cancel crosses processes on Redis pub/sub: the holder's signal fires", async () => {
    const entered = gate();
    const waits = defineTask({
      name: "waits",
      run: (_: null, ctx) =>
        new Promise((_, reject) => {
          entered.open();
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
        }),
    });
    // Two instances on one ledger file and one Redis prefix, as two processes would be; the
    // holder's heartbeat (its SQL check for cancels) is far off, so the signal is what arrives.
    const { url: database } = tempDatabase();
    const { tl: holder, prefix } = open({ tasks: [waits], leaseMs: 120_000, heartbeatMs: 60_000 }, database);
    const { tl: api } = open({ tasks: [waits], prefix }, database);
    const heard: number[][] = [];
    runtimeOf(holder).engine.onCancel((ids) => heard.push([...ids]));
    await holder.createWorker().start();
    const task = await api.tasks.enqueue(waits, null, { description: "canceled from elsewhere" });
    await entered.promise;
    expect(await api.tasks.cancel(task.id)).toMatchObject({ ok: true });
    await waitFor(() => heard.some((ids) => ids.includes(task.id)), { message: "the cancel signal" });
    await waitFor(async () => (await holder.tasks.get(task.id))?.status === "canceled", {
      message: "the cancel",
    });
  });

  it("migrate refuses a Redis that evicts keys, naming the policy and the fix", async () => {
    const port = await freePort();
    await startRedis(port, ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    const engine = createBullmqEngine({ url: `redis://127.0.0.1:${port}`, prefix: testPrefix() });
    try {
      const refused = await engine.migrate().catch((error) => error);
      expect(refused).toMatchObject({ code: "unavailable", field: "redis" });
      expect(refused.message).toContain("maxmemory-policy allkeys-lru");
      expect(refused.message).toContain("CONFIG SET maxmemory-policy noeviction");
    } finally {
      await engine.close();
    }
  });

  it("without bullmq or ioredis installed, the error names the packages and the install command", async () => {
    const notFound = (name: string) =>
      Object.assign(new Error(`Cannot find package '${name}' imported from /app/x.js`), {
        code: "ERR_MODULE_NOT_FOUND",
      });
    const both = await importDriver((name) => Promise.reject(notFound(name))).catch((error) => error);
    expect(both).toMatchObject({ name: "TaskledgerError", code: "unavailable", field: "engine" });
    expect(both.message).toBe(
      "the bullmq engine needs the packages bullmq and ioredis, which are not installed: npm install bullmq ioredis",
    );
    const one = await importDriver((name) =>
      name === "ioredis" ? Promise.reject(notFound(name)) : import(name),
    ).catch((error) => error);
    expect(one.message).toBe(
      "the bullmq engine needs the package ioredis, which is not installed: npm install bullmq ioredis",
    );
    // A package that fails while loading keeps its own error.
    const broken = await importDriver(() => Promise.reject(new SyntaxError("bad"))).catch((error) => error);
    expect(broken).toBeInstanceOf(SyntaxError);
  });

  it("a queue first taken from while Redis is down is taken from once Redis is back", async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const engine = createBullmqEngine({ url: `redis://127.0.0.1:${port}`, prefix: testPrefix() });
    const request = () => ({ worker: "w", queues: ["default"], limit: 10, now: Date.now() });
    const quiet = console.error;
    console.error = () => {};
    try {
      await engine.migrate(); // connected
      await stopRedis(server);
      // BullMQ sets up this queue's worker now, and fails: Redis is away.
      expect(await engine.take(request(), {})).toEqual([]);
      await startRedis(port);
      const delivery = { id: 1, attempt: 1, queue: "default", priority: 0, runAt: Date.now() };
      await waitFor(
        async () => {
          await engine.deliver([delivery], undefined);
          return (await engine.take(request(), {})).length === 1;
        },
        { message: "a take once Redis is back", timeoutMs: 10_000 },
      );
      await engine.taken!([delivery]);
    } finally {
      console.error = quiet;
      await engine.close();
    }
  });

  it("with Redis down, an enqueue answers within 2 s, and the task runs once Redis is back", async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const runs: number[] = [];
    const counted = defineTask({ name: "counted", run: (n: number) => void runs.push(n) });
    const tl = createTaskledger({
      database: tempDatabase().url,
      redis: { url: `redis://127.0.0.1:${port}`, prefix: testPrefix() },
      tasks: [counted],
    });
    opened.push(tl);
    await tl.createWorker().start();
    const said: string[] = [];
    const quiet = console.error;
    console.error = (message: unknown) => void said.push(String(message));
    try {
      await stopRedis(server);
      const started = Date.now();
      const task = await tl.tasks.enqueue(counted, 7, { description: "while Redis is down" });
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(task.status).toBe("queued");
      const second = Date.now();
      await tl.tasks.enqueue(counted, 8, { description: "still down" });
      expect(Date.now() - second).toBeLessThan(2_500);
      expect(said.filter((line) => line.includes("Redis is unreachable"))).toHaveLength(1);
      await startRedis(port);
      await waitFor(async () => (await tl.tasks.get(task.id))?.status === "finished", {
        message: "the task after Redis came back",
        timeoutMs: 20_000,
      });
      await waitFor(() => runs.length === 2, { message: "both tasks" });
      expect(runs.sort()).toEqual([7, 8]);
      expect(said.some((line) => line.includes("Redis is reachable again"))).toBe(true);
    } finally {
      console.error = quiet;
      if (process.env.SHOW_SAID) console.log(said.join("\n"), runs);
    }
  });

  it("is chosen by a Redis URL, and engine bullmq without one says what to set", () => {
    const { tl } = open();
    expect(tl.ledger.engine).toBe("bullmq");
    expect(() => createTaskledger({ database: tempDatabase().url, engine: "bullmq", tasks: [] })).toThrow(
      /needs a Redis URL/,
    );
    expect(() =>
      createTaskledger({ database: tempDatabase().url, engine: "embedded", redis: url, tasks: [] }),
    ).toThrow(/is for the bullmq engine/);
  });
});
