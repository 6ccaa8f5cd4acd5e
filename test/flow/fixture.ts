import { afterEach } from "vitest";
import {
  type Clock,
  createTaskledger,
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
