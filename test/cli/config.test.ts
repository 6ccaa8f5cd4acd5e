import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tableCounts, tempDir } from "../helpers/index.js";
import { json, LIBRARY_URL, type RunOptions, run, spawnCli, untilOutput, writeGatedConfig } from "./cli.js";

/** A user's own taskledger.config.js, found in the working directory or named with --config. */
let dir: string;
let file: string;
let opts: RunOptions;

beforeEach(() => {
  dir = tempDir("tl-cli-config-");
  file = join(dir, "ledger.db");
  opts = { cwd: dir, database: `sqlite:${file}` };
});

const enqueueEcho = (options: RunOptions, ...flags: string[]) =>
  run(["enqueue", "echo", "--description", "echo", "--payload", '"hi"', "--json", ...flags], options);

/** One line on stderr, naming the config field, and nothing written. */
function expectConfigError(
  result: { code: number | null; stdout: string; stderr: string },
  ...parts: string[]
): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe("");
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toContain("taskledger: error: config:");
  for (const part of parts) expect(lines[0]).toContain(part);
  expect(existsSync(file)).toBe(false);
}

describe("a user's config", () => {
  it("is found as taskledger.config.js in the working directory, instead of the example", async () => {
    writeGatedConfig(dir);
    const echoed = await enqueueEcho(opts);
    expect(echoed.code, echoed.stderr).toBe(0);
    expect(json(echoed)).toMatchObject({ name: "echo", payload: "hi", status: "queued" });

    const example = await run(["enqueue", "count_words", "--description", "x"], opts);
    expect(example.code).toBe(1);
    expect(example.stderr).toContain('unknown task "count_words"');
  });

  it("is found as taskledger.config.mjs too", async () => {
    writeGatedConfig(dir, { file: "taskledger.config.mjs" });
    const echoed = await enqueueEcho(opts);
    expect(echoed.code, echoed.stderr).toBe(0);
  });

  it("is named with --config (relative to the working directory) or TASKLEDGER_CONFIG, before the one in the directory", async () => {
    mkdirSync(join(dir, "conf"));
    writeGatedConfig(join(dir, "conf"), { file: "jobs.config.js" });
    // The directory's own config has no `echo`: a command that finds `echo` read the named one.
    writeFileSync(
      join(dir, "taskledger.config.js"),
      `import { defineTask } from ${JSON.stringify(LIBRARY_URL)};
export default { tasks: [defineTask({ name: "other", run: () => null })] };
`,
    );
    expect((await enqueueEcho(opts)).stderr).toContain('unknown task "echo"');

    const flagged = await enqueueEcho(opts, "--config", "conf/jobs.config.js");
    expect(flagged.code, flagged.stderr).toBe(0);
    const fromEnv = await enqueueEcho({
      ...opts,
      env: { TASKLEDGER_CONFIG: join(dir, "conf", "jobs.config.js") },
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(tableCounts(file).tasks).toBe(2);
  });

  it("runs its tasks in a worker started with --config", async () => {
    const config = writeGatedConfig(dir, { file: "jobs.config.js" });
    const elsewhere = tempDir("tl-cli-elsewhere-");
    const at = { ...opts, cwd: elsewhere };
    const worker = spawnCli(["worker", "--config", config], at);
    await untilOutput(worker, `config ${config}`);

    const waited = await run(
      ["enqueue", "echo", "--config", config, "--description", "echo", "--payload", '{"n":7}', "--wait"],
      at,
    );
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout.trimEnd().split("\n").at(-1)).toBe('Result: {"n":7}');

    worker.child.kill("SIGTERM");
    expect((await worker.done).code).toBe(0);
  });

  it("names the ledger with `database`, which TASKLEDGER_DATABASE_URL and --database override", async () => {
    const fromConfig = join(dir, "from-config.db");
    writeGatedConfig(dir, { extra: `, database: ${JSON.stringify(`sqlite:${fromConfig}`)}` });

    expect((await run(["migrate"], { cwd: dir, database: null })).code).toBe(0);
    expect(existsSync(fromConfig)).toBe(true);
    expect((await run(["migrate"], opts)).code).toBe(0);
    expect(existsSync(file)).toBe(true);
    const flagged = join(dir, "flagged.db");
    expect((await run(["migrate", "--database", `sqlite:${flagged}`], opts)).code).toBe(0);
    expect(existsSync(flagged)).toBe(true);
  });

  it("without `tasks` is refused with a clear message, exit 1", async () => {
    writeFileSync(join(dir, "taskledger.config.js"), "export default { queues: ['default'] };\n");
    expectConfigError(
      await run(["enqueue", "echo", "--description", "x"], opts),
      join(dir, "taskledger.config.js"),
      "must export default { tasks: [...] }",
    );
  });

  it("without a default export is refused the same way", async () => {
    writeFileSync(join(dir, "taskledger.config.js"), "export const tasks = [];\n");
    expectConfigError(await run(["status"], opts), "must export default { tasks: [...] }");
  });

  it("that fails to load is refused with the reason", async () => {
    writeFileSync(join(dir, "taskledger.config.js"), "throw new Error('no SMTP host configured');\n");
    expectConfigError(await run(["status"], opts), "cannot load", "no SMTP host configured");
  });

  it("named but missing is refused", async () => {
    expectConfigError(
      await run(["status", "--config", "nope.config.js"], opts),
      "no such file",
      join(dir, "nope.config.js"),
    );
  });
});
