import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tempDir, waitFor } from "../helpers/index.js";
import { json, REPO, type RunOptions, run, spawnCli, untilOutput } from "./cli.js";

/**
 * `taskledger start` in a directory without a config of its own: the bundled example's tasks,
 * everything in one process. PORT=0 lets a web server, when `start` has one, take a free port.
 */
let dir: string;
let file: string;
let opts: RunOptions;
const EXAMPLE = join(REPO, "examples", "mailer", "taskledger.config.js");

beforeEach(() => {
  dir = tempDir("tl-cli-start-");
  file = join(dir, "ledger.db");
  opts = { cwd: dir, database: `sqlite:${file}`, env: { PORT: "0" } };
});

describe("taskledger start", () => {
  it("runs the bundled example, finishes a task enqueued from another process, and stops on SIGTERM", async () => {
    expect(existsSync(join(dir, "taskledger.config.js"))).toBe(false);
    const start = spawnCli(["start"], opts);
    await untilOutput(start, `${EXAMPLE} (the bundled example)`);
    expect(start.stdout()).toContain("taskledger is running");
    expect(start.stdout()).toContain(file);
    expect(start.stdout()).toMatch(/^\s+tasks\s+.*\bcount_words\b/m);

    // Not necessarily task #1: the example's schedules may have fired first.
    const waited = await run(
      ["enqueue", "count_words", "--description", "count", "--payload", '"one two two"', "--wait"],
      opts,
    );
    expect(waited.code, waited.stderr).toBe(0);
    const id = /^Task #(\d+) count_words /m.exec(waited.stdout)?.[1];
    expect(id, waited.stdout).toBeDefined();
    expect(waited.stdout.trimEnd().split("\n").at(-1)).toBe(
      'Result: {"words":3,"distinct":2,"top":{"two":2,"one":1}}',
    );
    await untilOutput(start, `#${id} count_words finished`);

    const status = json(await run(["status", "--json"], opts));
    expect(status.workers.map((w: { pid: number }) => w.pid)).toEqual([start.child.pid]);

    start.child.kill("SIGTERM");
    const exited = await start.done;
    expect(exited.code, exited.stderr).toBe(0);
    expect(exited.stdout).toContain("Stopped.");
    const after = json(await run(["status", "--json"], opts));
    expect(after.workers).toEqual([]);
  });

  it("prints its settings as JSON with --json", async () => {
    const start = spawnCli(["start", "--json", "--quiet"], opts);
    const settings = await waitFor(
      () => {
        if (start.child.exitCode !== null) throw new Error(`start exited:\n${start.stderr()}`);
        try {
          return JSON.parse(start.stdout()) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 30_000, message: "the JSON settings of start" },
    );
    expect(settings).toMatchObject({ database: file, config: EXAMPLE });
    expect(settings.tasks).toContain("count_words");

    start.child.kill("SIGTERM");
    const exited = await start.done;
    expect(exited.code, exited.stderr).toBe(0);
  });
});

describe("a port already taken", () => {
  it("is refused by web and start in one line that says how to pick another, exit 1", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      for (const command of ["web", "start"]) {
        const result = await run([command, "--port", String(port)], opts);
        expect(result.code, command).toBe(1);
        expect(result.stderr, command).toBe(
          `taskledger: error: port: ${port} is already in use on 127.0.0.1; pick another with --port N, or --port 0 for any free one\n`,
        );
      }
      // $PORT is a default like any other: the same advice.
      const fromEnv = await run(["web"], { ...opts, env: { PORT: String(port) } });
      expect(fromEnv.code).toBe(1);
      expect(fromEnv.stderr).toContain("pick another with --port N, or --port 0 for any free one");
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
