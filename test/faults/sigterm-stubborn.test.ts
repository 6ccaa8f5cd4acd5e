import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { LIBRARY_URL, type RunOptions, readTask, spawnCli, untilOutput } from "../cli/cli.js";
import { tempDir, waitFor } from "../helpers/index.js";

let dir: string;
let file: string;
let opts: RunOptions;
const GRACE_MS = 1_000;

beforeEach(() => {
  dir = tempDir("tl-sigterm-");
  file = join(dir, "ledger.db");
  opts = { cwd: dir, database: `sqlite:${file}` };
  writeFileSync(
    join(dir, "taskledger.config.js"),
    `import { defineConfig, defineTask } from ${JSON.stringify(LIBRARY_URL)};

// Ignores its abort signal and leaves a timer running for a minute.
const stubborn = defineTask({
  name: "stubborn",
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 60_000));
    return "too late";
  },
});

export default defineConfig({ tasks: [stubborn], shutdownGraceMs: ${GRACE_MS} });
`,
  );
});

describe("taskledger worker stopped with SIGTERM while a handler ignores its abort signal", () => {
  it("requeues the task after the grace period and exits within grace + 2 s", async () => {
    const worker = spawnCli(["worker", "--concurrency", "1"], opts);
    await untilOutput(worker, /^taskledger worker \S+ — queues /m);
    const enqueue = spawnCli(["enqueue", "stubborn", "--description", "ignores its signal"], opts);
    expect((await enqueue.done).code).toBe(0);
    await untilOutput(worker, "#1 running");

    const signaledAt = Date.now();
    worker.child.kill("SIGTERM");
    const exited = await worker.done;
    const took = Date.now() - signaledAt;

    expect(exited.code, exited.stderr).toBe(0);
    expect(exited.stdout).toContain("Stopped.");
    expect(took).toBeLessThan(GRACE_MS + 2_000);
    await waitFor(() => readTask(file, 1)?.status === "queued", { message: "the task to be requeued" });
    expect(readTask(file, 1)).toMatchObject({ status: "queued", attempts: 0 });
  });
});
