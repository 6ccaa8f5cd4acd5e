import { afterEach, beforeEach, describe } from "vitest";
import type { Engine } from "../../src/engine/contract.js";
import { createMemoryEngine } from "../../src/engines/memory/engine.js";
import {
  type Clock,
  createTaskledger,
  defineTask,
  type Task,
  type Taskledger,
  type TaskledgerOptions,
} from "../../src/index.js";
import {
  DIALECTS,
  type DialectCase,
  type DialectName,
  freshDatabaseUrl,
  skipped,
} from "../helpers/dialects.js";
import { tempDatabase, waitFor } from "../helpers/index.js";

/**
 * A taskledger on a fresh ledger, closed after the test. Short poll and grace defaults keep
 * waits on conditions quick; each test overrides what it is about.
 *
 * Inside `eachDialect`, the ledger is the current dialect's fresh database (one per test); on a
 * server the engine is the in-process one, shared by every taskledger of the test (as processes
 * share a queue), since the embedded engine runs on SQLite only. Outside, a fresh SQLite file.
 */
const open: Taskledger[] = [];
afterEach(async () => {
  for (const tl of open.splice(0).reverse()) await tl.close();
});

interface Current {
  readonly dialect: DialectName;
  readonly url: string;
  engine?: Engine;
}
let current: Current | undefined;

/**
 * The suites in `body`, once per ledger dialect (SQLite; PostgreSQL and MySQL where their servers
 * run — else skipped saying why, or failed under TASKLEDGER_TEST_STRICT=1).
 */
export function eachDialect(body: (dialect: DialectCase) => void): void {
  for (const dialect of DIALECTS) {
    describe.skipIf(skipped(dialect))(`on ${dialect.name}`, () => {
      beforeEach(async () => {
        current = { dialect: dialect.name, url: await freshDatabaseUrl(dialect.name) };
      });
      afterEach(async () => {
        const engine = current?.engine;
        current = undefined;
        await engine?.close();
      });
      body(dialect);
    });
  }
}

/** The dialect of the test running now (`sqlite` outside `eachDialect`). */
export function currentDialect(): DialectName {
  return current?.dialect ?? "sqlite";
}

export interface Fixture {
  readonly tl: Taskledger;
  /** The SQLite file, or on a server the URL (what `ledgerCounts` and `waitingCount` read). */
  readonly file: string;
  readonly url: string;
}

export function openLedger(options: Omit<TaskledgerOptions, "database"> & { url?: string }): Fixture {
  const url = options.url ?? current?.url ?? tempDatabase().url;
  const file = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
  const server = !url.startsWith("sqlite:");
  const engine = options.engine ?? (server ? sharedEngine() : undefined);
  const tl = createTaskledger({
    pollIntervalMs: 20,
    shutdownGraceMs: 500,
    ...options,
    ...(engine ? { engine } : {}),
    database: url,
  });
  open.push(tl);
  return { tl, file, url };
}

/** The test's in-process engine, shared by its taskledgers; each one's close leaves it open. */
function sharedEngine(): Engine {
  if (!current) return createMemoryEngine();
  current.engine ??= createMemoryEngine();
  return { ...current.engine, close: async () => {} } as Engine;
}

/** A clock the test moves by hand: time-dependent behaviour without waiting for it. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.UTC(2030, 0, 1, 9, 0, 0)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** A promise the test resolves when it chooses (to hold a handler in the middle of its run). */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  open(value: T): void;
}

export function gate<T = void>(): Gate<T> {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Wait until a task matches a predicate; returns it. */
export function waitForTask(
  tl: Taskledger,
  id: number,
  check: (task: Task) => boolean,
  message = `task ${id}`,
  timeoutMs = 10_000,
): Promise<Task> {
  return waitFor(
    async () => {
      const task = await tl.tasks.get(id);
      return task && check(task) ? task : undefined;
    },
    { message, timeoutMs },
  );
}

export const isTerminal = (task: Task) => task.status === "finished" || task.status === "canceled";

const succeeds = defineTask({ name: "succeeds", retry: 0, run: () => "ok" });
const fails = defineTask({
  name: "fails",
  retry: 0,
  run: () => {
    throw new Error("it failed");
  },
});
/** The tasks `oneOfEachEnd` runs: give them to the taskledger it is called with. */
export const ENDING_TASKS = [succeeds, fails];

/**
 * One task of each way to end, run by a real worker: one succeeded (`finished`), one failed
 * (stored `finished` with `failed` set) and one canceled before it ran.
 */
export async function oneOfEachEnd(
  tl: Taskledger,
  owner?: string,
): Promise<{ finished: number; failed: number; canceled: number }> {
  const canceled = await tl.tasks.enqueue(succeeds, null, { description: "canceled", owner });
  await tl.tasks.cancel(canceled.id);
  const finished = await tl.tasks.enqueue(succeeds, null, { description: "succeeds", owner });
  const failed = await tl.tasks.enqueue(fails, null, { description: "fails", owner });
  const worker = tl.createWorker();
  await worker.start();
  await Promise.all([finished, failed].map((t) => waitForTask(tl, t.id, isTerminal)));
  await worker.stop();
  return { finished: finished.id, failed: failed.id, canceled: canceled.id };
}
