import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { openLedger } from "../flow/fixture.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { type RunOptions, readTask, run, spawnCli, untilOutput } from "./cli.js";

/**
 * A reader that stops early (`taskledger tasks list --json | head -1`) closes the command's
 * stdout: the command ends quietly with exit 0, as `git log | head` does.
 */
let dir: string;
let file: string;
let opts: RunOptions;

beforeEach(() => {
  dir = tempDir("tl-cli-pipe-");
  file = join(dir, "ledger.db");
  opts = { cwd: dir, database: `sqlite:${file}` };
});

/** What a process left on stderr after it ended: nothing, with no stack and no "Error". */
function expectQuietEnd(done: { code: number | null; stderr: string }, what: string): void {
  expect(done.stderr, what).toBe("");
  expect(done.code, what).toBe(0);
}

describe("a closed stdout", () => {
  it("ends tasks list --json quietly, exit 0, when its reader closes after the first line", async () => {
    const { tl } = openLedger({ url: opts.database!, tasks: [defineTask({ name: "big", run: () => null })] });
    // About 400 KB of JSON: far more than a pipe holds, so the command is still writing.
    await tl.tasks.enqueueMany(
      Array.from({ length: 100 }, (_, i) => ({
        task: "big",
        payload: "x".repeat(4_000),
        options: { description: `big ${i}` },
      })),
    );
    const proc = spawnCli(["tasks", "list", "--json", "--limit", "200"], opts);
    let read = "";
    proc.child.stdout!.on("data", (chunk: string) => {
      read += chunk;
      if (read.includes("\n")) proc.child.stdout!.destroy();
    });
    expectQuietEnd(await proc.done, "tasks list --json");
    expect(read.split("\n")[0]).toBe("{");
  });

  it("ends every one-shot command quietly, exit 0, when its reader is gone before it writes", async () => {
    expect((await run(["migrate"], opts)).code).toBe(0);
    for (const args of [
      ["tasks", "list"],
      ["tasks", "list", "--json"],
      ["status"],
      ["enqueue", "count_words", "--description", "piped"],
      ["tasks", "show", "1"],
      ["--help"],
      ["tasks", "list", "--help"],
    ]) {
      const proc = spawnCli(args, opts);
      proc.child.stdout!.destroy();
      expectQuietEnd(await proc.done, args.join(" "));
    }
  });

  it("stops a worker as SIGTERM does, its running task finished, exit 0, when its reader is gone", async () => {
    const worker = spawnCli(["worker"], opts);
    await untilOutput(worker, /^taskledger worker \S+ — queues /m);
    worker.child.stdout!.destroy();
    // Its next line ("#1 running") meets the closed pipe.
    const enqueued = await run(
      ["enqueue", "count_words", "--description", "count", "--payload", '"a b"'],
      opts,
    );
    expect(enqueued.code, enqueued.stderr).toBe(0);
    expectQuietEnd(await worker.done, "worker");
    await waitFor(() => readTask(file, 1)?.status === "finished", { message: "task 1 finished" });
    expect(readTask(file, 1)).toMatchObject({ status: "finished", failed: 0 });
  });
});
