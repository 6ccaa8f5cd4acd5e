import { afterEach } from "vitest";
import {
  type Clock,
  createTaskledger,
  defineTask,
  type Task,
  type Taskledger,
  type TaskledgerOptions,
} from "../../src/index.js";
import { tempDatabase, waitFor } from "../helpers/index.js";

/**
 * A taskledger on a fresh SQLite file, closed after the test. Short poll and grace defaults keep
 * waits on conditions quick; each test overrides what it is about.
 */
const open: Taskledger[] = [];
afterEach(async () => {
  for (const tl of open.splice(0).reverse()) await tl.close();
});

export interface Fixture {
  readonly tl: Taskledger;
  readonly file: string;
  readonly url: string;
}

export function openLedger(options: Omit<TaskledgerOptions, "database"> & { url?: string }): Fixture {
  const { url, file } = options.url
    ? { url: options.url, file: options.url.slice("sqlite:".length) }
    : tempDatabase();
  const tl = createTaskledger({ pollIntervalMs: 20, shutdownGraceMs: 500, ...options, database: url });
  open.push(tl);
  return { tl, file, url };
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
