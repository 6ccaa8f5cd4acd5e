import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * The demo app as a user starts it: `taskledger start` (the built CLI) in an empty directory, so
 * it serves the bundled mailer example on a free port, with its worker and scheduler. `command`
 * runs another CLI command instead (e.g. `web`).
 */
export interface DemoServer {
  readonly url: string;
  readonly dir: string;
  readonly database: string;
  readonly dataDir: string;
  output(): string;
  /** Stop the process and start it again on the same port, in the same directory; `between` runs while it is down. */
  restart(between?: (port: number) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

const CLI = resolve("dist/cli/main.js");

interface Started {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly url: string;
}

export async function startDemo(
  env: Record<string, string> = {},
  command: readonly string[] = ["start", "--concurrency", "4"],
): Promise<DemoServer> {
  const root = join(tmpdir(), "taskledger-tests");
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, "tl-demo-"));
  const dataDir = join(dir, "mailer-data");
  let output = "";

  async function launch(port: string): Promise<Started> {
    const child: ChildProcess = spawn(process.execPath, [CLI, ...command, "--port", port], {
      cwd: dir,
      env: {
        ...process.env,
        NO_COLOR: "1",
        MAILER_DATA_DIR: dataDir,
        MAILER_SECRET: "a test secret of enough length",
        MAILER_ADMINS: "admin",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const from = output.length;
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`taskledger start printed no URL:\n${output}`)),
        30_000,
      );
      const check = () => {
        const found = /(http:\/\/127\.0\.0\.1:\d+)/.exec(output.slice(from))?.[1];
        if (found) {
          clearTimeout(timer);
          resolveUrl(found);
        }
      };
      child.stdout!.on("data", check);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`taskledger start exited (${code}):\n${output}`));
      });
    });
    return { child, exited, url };
  }

  async function end({ child, exited }: Started) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const forced = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(forced);
  }

  let current = await launch("0");
  const url = current.url;
  return {
    url,
    dir,
    database: `sqlite:${join(dir, "taskledger.db")}`,
    dataDir,
    output: () => output,
    async restart(between) {
      await end(current);
      await between?.(Number(new URL(url).port));
      current = await launch(new URL(url).port);
    },
    async stop() {
      await end(current);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
