import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoServer, startDemo } from "../browser/demo-server.js";
import { waitFor } from "../helpers/index.js";
import { codeBlocks, markdownSection, missingLines, shellSteps } from "../helpers/markdown.js";
import { BIN, REPO, readTask, spawnProcess } from "./cli.js";

/**
 * The README's "Try it", run as written: each `npx taskledger …` line of its shell blocks runs in
 * `sh` from the directory of a real `taskledger start` (the bundled demo on ./taskledger.db), in
 * order, and must exit 0 and print the lines the README shows under it — in that order, other
 * lines allowed between them, runs of spaces counted as one, `…` standing for anything.
 * `npx taskledger` runs this checkout's built bin, as `npx` does in a checkout after `npm start`.
 */
const README = readFileSync(join(REPO, "README.md"), "utf8");
const STEPS = shellSteps(codeBlocks(markdownSection(README, "Try it"), "sh"), "npx ");

let demo: DemoServer;
let path: string;

beforeAll(async () => {
  demo = await startDemo();
  const shims = join(demo.dir, "shims");
  mkdirSync(shims);
  writeFileSync(
    join(shims, "npx"),
    `#!/bin/sh\n[ "$1" = taskledger ] || { echo "only npx taskledger here" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${BIN}" "$@"\n`,
  );
  chmodSync(join(shims, "npx"), 0o755);
  path = `${shims}:${process.env.PATH}`;
  // What the README says happened before the reader's first command: the schedule's run took #1.
  await waitFor(() => readTask(join(demo.dir, "taskledger.db"), 1)?.status === "finished", {
    timeoutMs: 30_000,
    message: "the fetch-rss schedule's first run",
  });
});

afterAll(async () => {
  await demo?.stop();
});

describe("README: Try it", () => {
  it("has commands to run, each showing what it prints", () => {
    expect(STEPS.length).toBeGreaterThanOrEqual(7);
    expect(STEPS[0]!.shows.length).toBeGreaterThan(0);
  });

  it("reads shown lines in order, with … for what varies", () => {
    expect(missingLines(["a … c", "d"], "x\na b c\nd")).toEqual([]);
    expect(missingLines(["d", "a b c"], "a  b c\nd")).toEqual(["a b c"]);
    expect(missingLines(["#2 x"], "#1 x")).toEqual(["#2 x"]);
  });

  it("runs every command as written and prints the lines it shows", async () => {
    for (const step of STEPS) {
      const result = await spawnProcess("sh", ["-c", step.command], {
        cwd: demo.dir,
        database: null,
        env: { PATH: path },
      }).done;
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.code, `${step.command}\n${output}`).toBe(0);
      expect(missingLines(step.shows, output), `${step.command}\nprinted:\n${output}`).toEqual([]);
    }
  }, 120_000);
});
