import { afterEach, describe, expect, it } from "vitest";
import { publicLog } from "../../src/core/task-log.js";
import { defineTask, type Taskledger } from "../../src/index.js";
import { eachDialect, isTerminal, openLedger, waitForTask } from "./fixture.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

eachDialect(() => {
  describe("a task's log", () => {
    it("keeps every attempt's failure, each with its stack and its cause, oldest first", async () => {
      const flaky = defineTask({
        name: "flaky",
        retry: { max: 2, delay: 0 },
        run(_: null, ctx) {
          const cause = new Error(`connection refused (${ctx.attempt})`);
          throw new Error(`attempt ${ctx.attempt} failed`, { cause });
        },
      });
      ({ tl } = openLedger({ tasks: [flaky] }));
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(flaky, null, { description: "fails three times" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: true, attempts: 3 });
      const entries = done.log!.split("\n").filter((line) => !/^\s/.test(line));
      expect(entries).toEqual([
        "attempt 1: Failed for: Error: attempt 1 failed",
        "attempt 2: Failed for: Error: attempt 2 failed",
        "attempt 3: Failed for: Error: attempt 3 failed",
      ]);
      for (const attempt of [1, 2, 3]) {
        const start = done.log!.indexOf(`attempt ${attempt}: `);
        const end = attempt === 3 ? undefined : done.log!.indexOf(`attempt ${attempt + 1}: `);
        const entry = done.log!.slice(start, end);
        expect(entry).toMatch(/\n {4}at /); // its stack
        expect(entry).toMatch(
          new RegExp(`\\n {2}Caused by: Error: connection refused \\(${attempt}\\)\\n {6}at `),
        );
      }
      expect(publicLog(done.log)).toBe(entries.join("\n"));
    });

    it("keeps the failures of earlier attempts when a later one succeeds, or is canceled", async () => {
      let failures = 1;
      const recovers = defineTask({
        name: "recovers",
        retry: { max: 3, delay: 0 },
        run() {
          if (failures-- > 0) throw new TypeError("not yet");
          return "ok";
        },
      });
      ({ tl } = openLedger({ tasks: [recovers] }));
      await tl.createWorker().start();
      const task = await tl.tasks.enqueue(recovers, null, { description: "recovers" });
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({ status: "finished", failed: false, result: "ok", attempts: 2 });
      expect(publicLog(done.log)).toBe("attempt 1: Failed for: TypeError: not yet");

      const stops = defineTask({
        name: "stops",
        retry: { max: 3, delay: 0 },
        run(_: null, ctx) {
          if (ctx.attempt === 1) throw new Error("first try");
          return new Promise((_resolve, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          );
        },
      });
      await tl.close();
      ({ tl } = openLedger({ tasks: [stops] }));
      await tl.createWorker().start();
      const stopped = await tl.tasks.enqueue(stops, null, { description: "canceled on its second attempt" });
      await waitForTask(tl, stopped.id, (t) => t.status === "running" && t.attempts === 2);
      await tl.tasks.cancel(stopped.id);
      const canceled = await waitForTask(tl, stopped.id, isTerminal);
      expect(canceled.status).toBe("canceled");
      expect(publicLog(canceled.log)).toBe("attempt 1: Failed for: Error: first try\nCanceled while running");
    });
  });
});
