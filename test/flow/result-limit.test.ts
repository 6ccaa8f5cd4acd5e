import { afterEach, describe, expect, it } from "vitest";
import { defineTask, type Taskledger } from "../../src/index.js";
import { eachDialect, isTerminal, openLedger, waitForTask } from "./fixture.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

eachDialect(() => {
  describe("a result larger than maxJsonBytes", () => {
    it("fails the attempt with a log that says how large it was and what the limit is; nothing of it is stored", async () => {
      const huge = defineTask({ name: "huge", retry: 0, run: (size: number) => "x".repeat(size) });
      ({ tl } = openLedger({ tasks: [huge], maxJsonBytes: 10_000 }));
      await tl.createWorker().start();
      const fits = await tl.tasks.enqueue(huge, 9_000, { description: "fits" });
      const over = await tl.tasks.enqueue(huge, 10_000, { description: "one quote too many" });
      expect(await waitForTask(tl, fits.id, isTerminal)).toMatchObject({
        failed: false,
        result: "x".repeat(9_000),
      });
      expect(await waitForTask(tl, over.id, isTerminal)).toMatchObject({
        status: "finished",
        failed: true,
        result: null,
        log: "Failed for: the returned value is 10002 bytes of JSON; the limit is 10000 (maxJsonBytes). Store large results elsewhere and return a reference",
      });
    });

    it("counts bytes of UTF-8, not characters", async () => {
      const korean = defineTask({ name: "korean", retry: 0, run: (n: number) => "가".repeat(n) });
      ({ tl } = openLedger({ tasks: [korean], maxJsonBytes: 3_000 }));
      await tl.createWorker().start();
      // 1,000 characters of three bytes each, and two quotes: 3,002 bytes.
      const task = await tl.tasks.enqueue(korean, 1_000, { description: "over in bytes, not in characters" });
      expect(await waitForTask(tl, task.id, isTerminal)).toMatchObject({
        failed: true,
        log: expect.stringContaining("is 3002 bytes of JSON; the limit is 3000"),
      });
    });
  });
});
