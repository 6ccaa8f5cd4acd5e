import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/index.js";
import { LIBRARY_URL, run, spawnCli, untilOutput } from "./cli.js";

/** `enqueue --wait` while a task is retried: a worker and the waiting command as real processes. */
describe("enqueue --wait", () => {
  it("says which attempt failed, why and when the next starts, once per retry; then the log of every attempt", async () => {
    const dir = tempDir("tl-cli-follow-");
    const opts = { cwd: dir, database: `sqlite:${join(dir, "ledger.db")}` };
    writeFileSync(
      join(dir, "taskledger.config.js"),
      `import { defineConfig, defineTask } from ${JSON.stringify(LIBRARY_URL)};
const flaky = defineTask({
  name: "flaky",
  retry: { max: 2, delay: 1500 },
  run() {
    throw new Error("the feed is down", { cause: new Error("getaddrinfo ENOTFOUND feed.invalid") });
  },
});
export default defineConfig({ tasks: [flaky] });
`,
    );
    const worker = spawnCli(["worker"], opts);
    await untilOutput(worker, /^taskledger worker \S+ — queues /m);

    const waited = await run(["enqueue", "flaky", "--description", "flaky", "--wait"], opts);
    expect(waited.code).toBe(1);
    const lines = waited.stdout.split("\n");
    for (const attempt of [1, 2]) {
      const retrying = lines.filter((line) => line.includes(`attempt ${attempt} of 3 failed`));
      expect(retrying, waited.stdout).toHaveLength(1);
      expect(retrying[0]).toMatch(
        new RegExp(
          `^#1 flaky \\[-+\\]\\s+0% queued — attempt ${attempt} of 3 failed: Error: the feed is down — retrying (in [12] s|now)$`,
        ),
      );
    }
    expect(lines).toContain("#1 flaky [####################] 100% failed");
    // The failure printed at the end holds every attempt, each with its cause.
    const log = waited.stdout.slice(waited.stdout.indexOf("100% failed"));
    for (const attempt of [1, 2, 3])
      expect(log).toContain(`attempt ${attempt}: Failed for: Error: the feed is down`);
    expect(log.match(/Caused by: Error: getaddrinfo ENOTFOUND feed.invalid/g)).toHaveLength(3);
  });
});
