import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import { afterEach } from "vitest";
import { waitFor } from "../helpers/index.js";

/**
 * Processes for the fault tests: real `node` processes running a script of `fixtures/` (workers:
 * `worker.mjs`) against the built library. Every process started here is killed after each test,
 * whatever the test did.
 */
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

export interface WorkerEnv {
  readonly database: string;
  readonly runs: string;
  readonly concurrency?: number;
  readonly leaseMs?: number;
  readonly heartbeatMs?: number;
  readonly sweepMs?: number;
  readonly graceMs?: number;
  /** The ledger's busy timeout in the worker process, ms (default: the library's). */
  readonly busyMs?: number;
}

export interface FixtureProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** JSON lines the process printed on stdout, in order. */
  readonly events: Record<string, unknown>[];
  /** Exit code (or the signal name) once the process has exited. */
  readonly exit: Promise<number | string>;
  readonly stderr: () => string;
}

export interface WorkerProcess extends FixtureProcess {
  /** The worker id, once the process printed `ready`. */
  workerId?: string;
}

const children = new Set<FixtureProcess>();

afterEach(async () => {
  const alive = [...children];
  children.clear();
  for (const proc of alive) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
  }
  await Promise.all(alive.map((proc) => proc.exit));
});

export function startWorkerProcess(options: WorkerEnv): WorkerProcess {
  return startFixtureProcess("worker.mjs", {
    TL_DATABASE: options.database,
    TL_RUNS: options.runs,
    TL_CONCURRENCY: String(options.concurrency ?? 4),
    TL_LEASE_MS: String(options.leaseMs ?? 1_500),
    TL_HEARTBEAT_MS: String(options.heartbeatMs ?? 300),
    TL_SWEEP_MS: String(options.sweepMs ?? 300),
    TL_GRACE_MS: String(options.graceMs ?? 10_000),
    ...(options.busyMs === undefined ? {} : { TL_BUSY_MS: String(options.busyMs) }),
  });
}

/** Run `fixtures/<script>` with these variables added to the environment. */
export function startFixtureProcess(script: string, vars: Record<string, string>): FixtureProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...vars };
  const child = spawn(process.execPath, [join(FIXTURES, script)], { env, stdio: ["ignore", "pipe", "pipe"] });
  const events: Record<string, unknown>[] = [];
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    const lines = stdout.split("\n");
    stdout = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("{")) events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  const proc: FixtureProcess = { child, pid: child.pid!, events, exit, stderr: () => stderr };
  children.add(proc);
  return proc;
}

/** Wait until the process printed an event of this name (fails early if it exits first). */
export async function untilEvent(
  proc: FixtureProcess,
  event: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  return waitFor(
    () => {
      const found = proc.events.find((e) => e.event === event);
      if (found) return found;
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        throw new Error(`process ${proc.pid} exited before "${event}":\n${proc.stderr()}`);
      }
      return undefined;
    },
    { timeoutMs, message: `"${event}" from process ${proc.pid}` },
  );
}

export async function startReadyWorkers(count: number, options: WorkerEnv): Promise<WorkerProcess[]> {
  const procs = Array.from({ length: count }, () => startWorkerProcess(options));
  for (const proc of procs) proc.workerId = String((await untilEvent(proc, "ready")).worker);
  return procs;
}

export interface Execution {
  readonly event: "start" | "end" | "abort";
  readonly id: number;
  readonly attempt: number;
  readonly pid: number;
  readonly reason?: string;
  readonly thread?: number;
}

/** Every execution event the worker processes recorded so far. */
export function readExecutions(file: string): Execution[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.endsWith("}"))
    .map((line) => JSON.parse(line) as Execution);
}

/** Executions (start events) grouped by task id. */
export function startsByTask(executions: readonly Execution[]): Map<number, Execution[]> {
  const byTask = new Map<number, Execution[]>();
  for (const e of executions) {
    if (e.event !== "start") continue;
    const list = byTask.get(e.id) ?? [];
    list.push(e);
    byTask.set(e.id, list);
  }
  return byTask;
}

export function runsFile(dir: string): string {
  return join(dir, "executions.jsonl");
}

/**
 * Freeze a worker process (SIGSTOP) at a moment when it does not hold the database's write
 * lock, so the other processes carry on without it: a hung worker, not a stuck database.
 */
export async function freezeOutsideWriteLock(proc: WorkerProcess, file: string): Promise<void> {
  const probe = new BetterSqlite3(file, { timeout: 0 });
  try {
    for (;;) {
      proc.child.kill("SIGSTOP");
      await waitFor(() => /\) T /.test(readFileSync(`/proc/${proc.pid}/stat`, "utf8")), {
        message: `worker ${proc.pid} to stop`,
      });
      try {
        probe.exec("BEGIN IMMEDIATE");
        probe.exec("ROLLBACK");
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
        proc.child.kill("SIGCONT");
      }
    }
  } finally {
    probe.close();
  }
}

/** Wait until attempt `attempt` of task `id` has started running its handler. */
export async function untilStarted(file: string, id: number, attempt = 1): Promise<Execution> {
  return waitFor(
    () => readExecutions(file).find((e) => e.event === "start" && e.id === id && e.attempt === attempt),
    {
      timeoutMs: 30_000,
      message: `attempt ${attempt} of task ${id} to start`,
    },
  );
}

/**
 * Another process takes the database's write lock (`BEGIN IMMEDIATE`) and holds it for `ms`:
 * resolves once the lock is held; `released` resolves when the process let it go and exited.
 */
export async function holdWriteLock(file: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `
    const Database = require("better-sqlite3");
    const db = new Database(process.argv[1], { timeout: 10000 });
    db.exec("BEGIN IMMEDIATE");
    process.stdout.write("locked\\n");
    setTimeout(() => { db.exec("COMMIT"); db.close(); }, Number(process.argv[2]));`;
  const child = spawn(process.execPath, ["-e", script, file, String(ms)], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const released = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  holders.add(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`the lock holder exited (${code}) before locking`)));
  });
  return { released };
}

const holders = new Set<ChildProcess>();
afterEach(() => {
  for (const child of holders) if (child.exitCode === null) child.kill("SIGKILL");
  holders.clear();
});
