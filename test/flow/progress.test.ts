import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { eachDialect, isTerminal, openLedger, waitForTask } from "./fixture.js";

eachDialect(() => {
  describe("progress reports", () => {
    it("a handler reporting in a tight loop is coalesced: few writes, the last value kept, each report settles", async () => {
      const settled: number[] = [];
      const busy = defineTask({
        name: "busy",
        retry: 0,
        async run(items: number, ctx) {
          const reports: Promise<void>[] = [];
          // Not awaited one by one: 20,000 reports as fast as the loop goes, some with data.
          for (let i = 1; i <= items; i++) {
            const report = ctx.setProgress((i / items) * 100, i % 5_000 === 0 ? { done: i } : undefined);
            reports.push(report.then(() => void settled.push(i)));
          }
          await Promise.all(reports);
          return "done";
        },
      });
      const { tl } = openLedger({ tasks: [busy] });
      const task = await tl.tasks.enqueue(busy, 20_000, { description: "tight loop", owner: "alice" });
      await tl.createWorker().start();
      const done = await waitForTask(tl, task.id, isTerminal, "busy finished", 30_000);
      expect(done).toMatchObject({ status: "finished", failed: false, progress: 100 });
      expect(settled).toHaveLength(20_000);
      const progress = (await tl.notifications.after("alice", 0, 10_000)).filter(
        (n) => n.name === "task_progress" && n.taskId === task.id,
      );
      // One per whole percent at most (and the start and end), not one per report.
      expect(progress.length).toBeLessThanOrEqual(110);
      expect(progress.length).toBeGreaterThan(2);
      // Reports with data are never dropped for being the same percent.
      const withData = progress.filter((n) => (n.data as { data?: unknown }).data !== undefined);
      expect(withData.map((n) => (n.data as { data: { done: number } }).data.done)).toEqual(
        expect.arrayContaining([20_000]),
      );
    });
  });
});
