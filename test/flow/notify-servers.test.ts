import { afterEach, describe, expect, it } from "vitest";
import { createHttpHandler } from "../../src/http/index.js";
import { createTaskledger, defineTask, type Taskledger, type TaskledgerOptions } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { LISTENER_NAME } from "../../src/notify/postgres.js";
import { spawnCli } from "../cli/cli.js";
import {
  type DialectName,
  freshDatabaseUrl,
  freshRedisPrefix,
  service,
  skipped,
} from "../helpers/dialects.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { sql } from "../helpers/services.js";
import { clientFor, readEvents, testAuthenticate } from "../http/client.js";
import { type Gate, gate } from "./fixture.js";

/**
 * Live updates across processes on a server ledger: what one taskledger commits wakes another's
 * listeners (SSE, `--follow`, idle workers) by PostgreSQL LISTEN/NOTIFY, or by Redis pub/sub on
 * MySQL — not by a poll: the observer's poll interval is a minute. Two instances in one process
 * share nothing in memory here (each notifier has its own listeners), so what one hears from the
 * other came through the server.
 */
const held = new Map<number, Gate>();
const hold = (id: number) => {
  if (!held.has(id)) held.set(id, gate());
  return held.get(id)!;
};
const echo = defineTask({ name: "echo", retry: 0, run: (payload: unknown) => payload });
/** Reports 25, 50, 75, then waits for the test. */
const steps = defineTask({
  name: "steps",
  retry: 0,
  async run(_payload: unknown, ctx) {
    for (const p of [25, 50, 75]) await ctx.setProgress(p);
    await hold(ctx.id).promise;
    return { done: true };
  },
});

const open: Taskledger[] = [];
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  for (const h of held.values()) h.open();
  held.clear();
  for (const tl of open.splice(0).reverse()) await tl.close();
});

function ledger(options: Omit<TaskledgerOptions, "tasks">): Taskledger {
  const tl = createTaskledger({ tasks: [echo, steps], shutdownGraceMs: 500, ...options });
  open.push(tl);
  return tl;
}

/** Wake-ups of `tl`'s notifier, with when they came. */
function wakes(tl: Taskledger): number[] {
  const at: number[] = [];
  closers.push(runtimeOf(tl).notifier.subscribe(() => at.push(performance.now())));
  return at;
}

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

interface Setup {
  readonly name: string;
  readonly dialect: DialectName;
  readonly services: readonly ("redis" | DialectName)[];
  /** The runner's and the observer's options on this ledger. */
  options(
    url: string,
  ): Promise<{ runner: Omit<TaskledgerOptions, "tasks">; observer: Omit<TaskledgerOptions, "tasks"> }>;
}

const SETUPS: Setup[] = [
  {
    name: "PostgreSQL (LISTEN/NOTIFY)",
    dialect: "postgres",
    services: ["postgres"],
    async options(url) {
      return {
        runner: { database: url, engine: "memory", pollIntervalMs: 60_000 },
        observer: { database: url, pollIntervalMs: 60_000 },
      };
    },
  },
  {
    name: "MySQL with Redis (pub/sub)",
    dialect: "mysql",
    services: ["mysql", "redis"],
    async options(url) {
      const redis = freshRedisPrefix();
      return {
        runner: { database: url, redis, pollIntervalMs: 60_000 },
        observer: { database: url, redis, pollIntervalMs: 60_000 },
      };
    },
  },
];

for (const setup of SETUPS) {
  describe.skipIf(setup.services.some((s) => skipped(s)))(
    `live updates across processes: ${setup.name}`,
    () => {
      async function pair() {
        const url = await freshDatabaseUrl(setup.dialect);
        const { runner, observer } = await setup.options(url);
        const a = ledger(runner);
        await a.migrate();
        const b = ledger(observer);
        await b.migrate();
        return { a, b, url };
      }

      it("a commit by one instance wakes the other's listeners at once (no poll)", async () => {
        const { a, b } = await pair();
        const heard = wakes(b);
        // Listening starts with one wake-up (what committed before it was not heard).
        await waitFor(() => heard.length > 0, { message: "listening" });
        const latencies: number[] = [];
        for (let i = 0; i < 40; i++) {
          const before = heard.length;
          const started = performance.now();
          await a.tasks.enqueue(echo, { i }, { description: "echo", owner: "alice" });
          await waitFor(() => heard.length > before, {
            timeoutMs: 2_000,
            intervalMs: 1,
            message: `wake ${i}`,
          });
          latencies.push(heard[before]! - started);
        }
        const p50 = percentile(latencies, 50);
        const p99 = percentile(latencies, 99);
        process.stderr.write(
          `${setup.name}: enqueue by A → B's listener: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms\n`,
        );
        expect(p50).toBeLessThan(100);
      });

      it("SSE on one instance streams a task's progress and end written by another", async () => {
        const { a, b } = await pair();
        const handler = createHttpHandler(b, { authenticate: testAuthenticate });
        closers.push(() => handler.close());
        const stream = readEvents(await clientFor(handler, "alice").get("/api/events"));
        const worker = a.createWorker();
        await worker.start();
        const task = await a.tasks.enqueue(steps, null, { description: "steps", owner: "alice" });
        await waitFor(() => stream.events.some((e) => e.data.data?.progress === 75), { message: "75 on B" });
        hold(task.id).open();
        await waitFor(() => stream.events.some((e) => e.data.name === "task_finished"), {
          message: "finished on B",
        });
        expect(stream.events.map((e) => e.data.data?.progress).filter((p) => p !== undefined)).toEqual([
          0, 25, 50, 75, 100,
        ]);
        await worker.stop();
      });

      it("`tasks show --follow` in another process follows a task to its end", async () => {
        const { a, url } = await pair();
        const worker = a.createWorker();
        await worker.start();
        const task = await a.tasks.enqueue(steps, null, { description: "steps", owner: "alice" });
        await waitFor(async () => (await a.tasks.get(task.id))?.progress === 75, { message: "75" });
        const follow = spawnCli(["tasks", "show", String(task.id), "--follow"], {
          cwd: tempDir(),
          database: url,
        });
        await waitFor(() => follow.stdout().includes("75"), { message: `the CLI at 75: ${follow.stderr()}` });
        hold(task.id).open();
        const done = await follow.done;
        expect(done.code).toBe(0);
        expect(done.stdout).toMatch(/finished/);
        await worker.stop();
      });
    },
  );
}

describe.skipIf(skipped("postgres"))("the LISTEN connection", () => {
  it("reconnects when the server drops it, and its listeners read again", async () => {
    const url = await freshDatabaseUrl("postgres");
    const a = ledger({ database: url, engine: "memory" });
    await a.migrate();
    const b = ledger({ database: url, pollIntervalMs: 60_000 });
    const heard = wakes(b);
    await waitFor(() => heard.length > 0, { message: "listening" });
    const before = heard.length;
    const dropped = await sql(
      service("postgres").url.replace(/\/?$/, `/${new URL(url).pathname.slice(1)}`),
      `select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = '${LISTENER_NAME}' and datname = current_database()`,
    );
    expect(Number(dropped)).toBe(1);
    // The reconnect itself wakes the listeners (changes may have been missed meanwhile)…
    await waitFor(() => heard.length > before, { message: "a wake-up after the reconnect" });
    // …and the new connection hears what is committed next.
    const after = heard.length;
    await a.tasks.enqueue(echo, null, { description: "echo", owner: "alice" });
    await waitFor(() => heard.length > after, {
      timeoutMs: 2_000,
      message: "a commit heard after the reconnect",
    });
  });
});

describe.skipIf(skipped("mysql"))("a MySQL ledger without Redis", () => {
  it("polls the ledger while someone listens: a commit elsewhere is seen within about a second", async () => {
    const url = await freshDatabaseUrl("mysql");
    const a = ledger({ database: url, engine: "memory" });
    await a.migrate();
    const b = ledger({ database: url, pollIntervalMs: 60_000 });
    const heard = wakes(b);
    // The first read sets where the poll starts from, and wakes the listeners once.
    await waitFor(() => heard.length > 0, { message: "polling" });
    const before = heard.length;
    await a.tasks.enqueue(echo, null, { description: "echo", owner: "alice" });
    await waitFor(() => heard.length > before, { timeoutMs: 3_000, message: "the poll saw it" });
  });
});
