import { describe, expect, it } from "vitest";
import { defineTask, TaskledgerError } from "../../src/index.js";
import { knownQueues } from "../../src/tasks/registry.js";
import { ledgerCounts } from "../helpers/index.js";
import { eachDialect, isTerminal, openLedger, waitForTask } from "./fixture.js";

function recorder() {
  const order: string[] = [];
  const task = defineTask({ name: "record", run: async (label: string) => void order.push(label) });
  return { order, task };
}

eachDialect(() => {
  describe("queues", () => {
    it("takes high before default when both have waiting tasks (one worker, concurrency 1)", async () => {
      const { order, task } = recorder();
      const { tl } = openLedger({ tasks: [task] });
      const created = [];
      for (const [label, queue] of [
        ["d1", "default"],
        ["d2", "default"],
        ["h1", "high"],
        ["d3", "default"],
        ["h2", "high"],
      ] as const) {
        created.push(await tl.tasks.enqueue(task, label, { description: label, queue }));
      }
      await tl.createWorker({ concurrency: 1 }).start();
      for (const t of created) await waitForTask(tl, t.id, isTerminal);
      expect(order).toEqual(["h1", "h2", "d1", "d2", "d3"]);
    });

    it("follows the worker's queue order and leaves queues it does not take", async () => {
      const { order, task } = recorder();
      const { tl } = openLedger({ tasks: [task], queues: ["alpha", "beta", "gamma"] });
      const a = await tl.tasks.enqueue(task, "a", { description: "a", queue: "alpha" });
      const b = await tl.tasks.enqueue(task, "b", { description: "b", queue: "beta" });
      const c = await tl.tasks.enqueue(task, "c", { description: "c", queue: "gamma" });
      await tl.createWorker({ concurrency: 1, queues: ["beta", "alpha"] }).start();
      await waitForTask(tl, a.id, isTerminal);
      await waitForTask(tl, b.id, isTerminal);
      expect(order).toEqual(["b", "a"]);
      expect((await tl.tasks.get(c.id))?.status).toBe("queued");
    });

    it("runs higher priority first within a queue, then oldest first", async () => {
      const { order, task } = recorder();
      const { tl } = openLedger({ tasks: [task] });
      const created = [];
      for (const [label, priority] of [
        ["p0a", 0],
        ["p5", 5],
        ["p-1", -1],
        ["p0b", 0],
        ["p9", 9],
      ] as const) {
        created.push(await tl.tasks.enqueue(task, label, { description: label, priority }));
      }
      await tl.createWorker({ concurrency: 1 }).start();
      for (const t of created) await waitForTask(tl, t.id, isTerminal);
      expect(order).toEqual(["p9", "p5", "p0a", "p0b", "p-1"]);
    });

    it("declared queues refuse an unknown queue on enqueue, reserve and worker creation", async () => {
      const { task } = recorder();
      const routed = defineTask({ name: "routed", queue: "elsewhere", run: async () => 1 });
      const { tl, file } = openLedger({ tasks: [task, routed], queues: ["high", "default", "mail"] });
      await tl.migrate();
      const before = await ledgerCounts(file);
      for (const attempt of [
        () => tl.tasks.enqueue(task, "x", { description: "x", queue: "nope" }),
        () => tl.tasks.enqueue(routed, null, { description: "definition's queue" }),
        () => tl.tasks.reserve(Date.now() + 60_000, task, "x", { description: "x", queue: "nope" }),
      ]) {
        const error = await attempt().catch((e) => e);
        expect(error).toBeInstanceOf(TaskledgerError);
        expect(error).toMatchObject({ code: "invalid_input", field: "queue" });
        expect(error.message).toMatch(/unknown queue ".*" \(declared: high, default, mail\)/);
      }
      expect(await ledgerCounts(file)).toEqual(before);
      expect(() => tl.createWorker({ queues: ["mail", "nope"] })).toThrow(/queues: unknown queue "nope"/);
      const ok = await tl.tasks.enqueue(task, "m", { description: "m", queue: "mail" });
      expect(ok.queue).toBe("mail");
    });

    it("without declared queues, knows high, default and the tasks' own queues, and refuses any other", async () => {
      const { task } = recorder();
      const routed = defineTask({ name: "routed", queue: "reports", run: async () => 1 });
      const { tl, file } = openLedger({ tasks: [task, routed] });
      expect(knownQueues(tl.settings, tl.registry)).toEqual(["high", "default", "reports"]);
      expect(tl.createWorker().queues).toEqual(["high", "default", "reports"]);
      for (const queue of ["high", "default", "reports"]) {
        expect((await tl.tasks.enqueue(task, queue, { description: queue, queue })).queue).toBe(queue);
      }
      const before = await ledgerCounts(file);
      for (const attempt of [
        () => tl.tasks.enqueue(task, "x", { description: "x", queue: "nobody" }),
        () => tl.tasks.enqueueMany([{ task, payload: "x", options: { description: "x", queue: "nobody" } }]),
        () => tl.tasks.reserve(Date.now() + 60_000, task, "x", { description: "x", queue: "nobody" }),
        () => tl.schedules.schedule({ key: "k", task, description: "x", every: 60_000, queue: "nobody" }),
      ]) {
        const error = await attempt().catch((e) => e);
        expect(error).toBeInstanceOf(TaskledgerError);
        expect(error).toMatchObject({ code: "invalid_input", field: "queue" });
        expect(error.message).toBe(
          'queue: unknown queue "nobody": no worker serves it (known: high, default, reports; declare others with the queues option)',
        );
      }
      expect(await ledgerCounts(file)).toEqual(before);
    });

    it("a worker takes every declared queue by default, in declared order", async () => {
      const { order, task } = recorder();
      const { tl } = openLedger({ tasks: [task], queues: ["urgent", "default", "bulk"] });
      const bulk = await tl.tasks.enqueue(task, "bulk", { description: "b", queue: "bulk" });
      const def = await tl.tasks.enqueue(task, "default", { description: "d" });
      const urgent = await tl.tasks.enqueue(task, "urgent", { description: "u", queue: "urgent" });
      const worker = tl.createWorker({ concurrency: 1 });
      expect(worker.queues).toEqual(["urgent", "default", "bulk"]);
      await worker.start();
      for (const t of [bulk, def, urgent]) await waitForTask(tl, t.id, isTerminal);
      expect(order).toEqual(["urgent", "default", "bulk"]);
    });
  });
});
