import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import { afterEach } from "vitest";
import { waitFor } from "../helpers/index.js";

/**
 * The real `taskledger` bin (dist/cli/main.js) run as a process, as a user runs it: its own
 * working directory, the ledger chosen by TASKLEDGER_DATABASE_URL. Every long-running process
 * started here is killed after each test, whatever the test did.
 */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = join(REPO, "dist", "cli", "main.js");
/** What a config outside the repo imports instead of the package name. */
export const LIBRARY_URL = pathToFileURL(join(REPO, "dist", "index.js")).href;

export interface RunOptions {
  readonly cwd: string;
  /** The ledger URL, or `null` to leave TASKLEDGER_DATABASE_URL unset. */
  readonly database: string | null;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly done: Promise<Finished>;
}

const running = new Set<Running>();

afterEach(async () => {
  const alive = [...running];
  running.clear();
  for (const proc of alive) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
  }
  await Promise.all(alive.map((proc) => proc.done));
});

/** The environment of a spawned command: no TASKLEDGER_* leaking in from the test's own shell. */
export function cliEnv({ database, env }: Pick<RunOptions, "database" | "env">): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("TASKLEDGER_")),
  );
  return {
    ...base,
    NO_COLOR: "1",
    ...(database === null ? {} : { TASKLEDGER_DATABASE_URL: database }),
    ...env,
  };
}

/** Start any command; use `run` for one that ends by itself. */
export function spawnProcess(command: string, args: readonly string[], options: RunOptions): Running {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: cliEnv(options),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<Finished>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const proc: Running = { child, stdout: () => stdout, stderr: () => stderr, done };
  running.add(proc);
  return proc;
}

export function spawnCli(args: readonly string[], options: RunOptions): Running {
  return spawnProcess(process.execPath, [BIN, ...args], options);
}

/** Run one command to its end. */
export function run(args: readonly string[], options: RunOptions): Promise<Finished> {
  return spawnCli(args, options).done;
}

/** Wait until the process printed `text` on stdout; fails early, with its output, if it exits first. */
export async function untilOutput(proc: Running, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    () => {
      const out = proc.stdout();
      if (typeof text === "string" ? out.includes(text) : text.test(out)) return true;
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        throw new Error(
          `process exited (${proc.child.exitCode ?? proc.child.signalCode}) before printing ${String(text)}:\n${out}\n${proc.stderr()}`,
        );
      }
      return false;
    },
    { timeoutMs, message: `${String(text)} on stdout` },
  );
}

export interface TaskRow {
  readonly id: number;
  readonly name: string;
  readonly status: string;
  readonly failed: number;
  readonly progress: number;
  readonly attempts: number;
  readonly result: string | null;
}

/** One task as it is on disk, read through a separate connection. */
export function readTask(file: string, id: number): TaskRow | undefined {
  const db = new BetterSqlite3(file, { readonly: true, timeout: 5_000 });
  try {
    return db
      .prepare("select id, name, status, failed, progress, attempts, result from tasks where id = ?")
      .get(id) as TaskRow | undefined;
  } finally {
    db.close();
  }
}

/** Parse a command's `--json` output. */
export function json<T = any>(result: Finished): T {
  return JSON.parse(result.stdout) as T;
}

/**
 * A user's config: a `gated` task that reports 50 % and then waits until its gate file exists
 * (so a test decides when it ends), and `echo`, which returns its payload.
 */
export function writeGatedConfig(
  dir: string,
  { library = LIBRARY_URL, file = "taskledger.config.js", extra = "" } = {},
): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    `import { existsSync } from "node:fs";
import { defineConfig, defineTask } from ${JSON.stringify(library)};

const gated = defineTask({
  name: "gated",
  retry: 0,
  async run({ gate }, ctx) {
    await ctx.setProgress(50);
    while (!existsSync(gate)) {
      if (ctx.signal.aborted) throw new Error("aborted");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { opened: true };
  },
});

const echo = defineTask({ name: "echo", run: (payload) => payload });

export default defineConfig({ tasks: [gated, echo], shutdownGraceMs: 60_000${extra} });
`,
  );
  return path;
}
