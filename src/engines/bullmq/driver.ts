import { TaskledgerError } from "../../core/errors.js";

/**
 * The small part of BullMQ and ioredis this engine uses, typed here so that taskledger has no
 * hard dependency on either: both are optional peer dependencies, imported on first use.
 */

export interface RedisClient {
  readonly status: string;
  /** The connection's socket (ioredis keeps it here once connected). */
  readonly stream?: { cork(): void; uncork(): void };
  publish(channel: string, message: string): Promise<number>;
  subscribe(...channels: string[]): Promise<unknown>;
  info(section: string): Promise<string>;
  zrange(key: string, start: number, stop: number, withScores: "WITHSCORES"): Promise<string[]>;
  zrangebyscore(
    key: string,
    min: number | string,
    max: number | string,
    limit: "LIMIT",
    offset: number,
    count: number,
  ): Promise<string[]>;
  /** Commands sent together; `exec` answers [error, result] for each. */
  pipeline(): { exists(key: string): unknown; exec(): Promise<[Error | null, unknown][] | null> };
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: "message", listener: (channel: string, message: string) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
}

export interface RedisOptions {
  readonly maxRetriesPerRequest?: number | null;
  readonly enableOfflineQueue?: boolean;
  readonly commandTimeout?: number;
  readonly connectTimeout?: number;
  readonly lazyConnect?: boolean;
  readonly retryStrategy?: (times: number) => number | null;
}

export interface JobOptions {
  readonly jobId: string;
  readonly priority: number;
  readonly delay: number;
  readonly timestamp: number;
  readonly removeOnComplete: boolean;
  readonly removeOnFail: boolean;
}

export interface Job {
  readonly id?: string;
  readonly data: unknown;
  readonly priority: number;
  /** With `fetchNext`, also takes the queue's next job in the same call: its raw data, as BullMQ's worker gets it. */
  moveToCompleted(returnValue: null, token: string, fetchNext: boolean): Promise<unknown>;
  moveToDelayed(timestamp: number, token: string): Promise<void>;
  moveToWait(token: string): Promise<unknown>;
  promote(): Promise<void>;
}

export interface Queue {
  addBulk(jobs: { name: string; data: unknown; opts: JobOptions }[]): Promise<unknown[]>;
  remove(jobId: string): Promise<number>;
  /** Its connection's set-up (BullMQ reads the server's version once, and keeps a failure). */
  waitUntilReady(): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): this;
  close(): Promise<void>;
}

export interface Worker {
  getNextJob(token: string, options: { block: boolean }): Promise<Job | undefined>;
  /** The job a completion with `fetchNext` took (`[data, id, …]`), as BullMQ's own worker makes it. */
  nextJobFromJobData(data: unknown, id: unknown, token: string): Promise<Job | undefined>;
  startStalledCheckTimer(): Promise<void>;
  waitUntilReady(): Promise<unknown>;
  on(event: "error", listener: (error: Error) => void): this;
  close(force?: boolean): Promise<void>;
}

export interface Driver {
  Redis: new (url: string, options: RedisOptions) => RedisClient;
  Queue: new (name: string, options: { connection: RedisClient; prefix: string }) => Queue;
  Worker: new (
    name: string,
    processor: null,
    options: {
      connection: RedisClient;
      prefix: string;
      autorun: false;
      lockDuration: number;
      stalledInterval: number;
      maxStalledCount: number;
    },
  ) => Worker;
  Job: { fromId(queue: Queue, jobId: string): Promise<Job | undefined> };
}

/** The packages the engine on Redis needs, as the user installs them. */
export const PEER_PACKAGES = ["bullmq", "ioredis"] as const;

/**
 * The error for an app without some of `packages` (what `engine` needs): names what is missing
 * and the command that installs them all.
 */
export function missingPackages(
  missing: readonly string[],
  cause?: unknown,
  engine = "the bullmq engine",
  packages: readonly string[] = PEER_PACKAGES,
): TaskledgerError {
  return new TaskledgerError(
    "unavailable",
    `${engine} needs the package${missing.length > 1 ? "s" : ""} ${missing.join(" and ")}, ` +
      `which ${missing.length > 1 ? "are" : "is"} not installed: npm install ${packages.join(" ")}`,
    { field: "engine", cause },
  );
}

/** A module that could not be imported because it is not installed (not one that failed inside). */
function isNotFound(error: unknown, name: string): boolean {
  const code = (error as { code?: string })?.code;
  const message = String((error as Error)?.message ?? "");
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(`'${name}'`);
}

/**
 * Import `packages` (what `engine` needs) through `importer` (the dynamic `import`): missing ones
 * are the error above; a package that fails while loading keeps its own error.
 */
export async function importPeers(
  engine: string,
  packages: readonly string[],
  importer: (name: string) => Promise<any>,
): Promise<Record<string, any>> {
  const missing: string[] = [];
  const modules: Record<string, any> = {};
  let cause: unknown;
  for (const name of packages) {
    try {
      modules[name] = await importer(name);
    } catch (error) {
      if (!isNotFound(error, name)) throw error;
      missing.push(name);
      cause ??= error;
    }
  }
  if (missing.length > 0) throw missingPackages(missing, cause, engine, packages);
  return modules;
}

/** Import BullMQ and ioredis through `importer` (the dynamic `import`). */
export async function importDriver(importer: (name: string) => Promise<any>): Promise<Driver> {
  const { bullmq, ioredis } = await importPeers("the bullmq engine", PEER_PACKAGES, importer);
  return {
    Redis: ioredis.Redis ?? ioredis.default,
    Queue: bullmq.Queue,
    Worker: bullmq.Worker,
    Job: bullmq.Job,
  };
}

let loading: Promise<Driver> | undefined;

/** BullMQ and ioredis, imported once, on first use (an app on the embedded engine never loads them). */
export function loadDriver(): Promise<Driver> {
  loading ??= importDriver((name) => import(name)).catch((error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}
