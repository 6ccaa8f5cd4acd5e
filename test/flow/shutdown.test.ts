import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { rawRows, waitFor } from "../helpers/index.js";
import { eachDialect, gate, isTerminal, openLedger, waitForTask } from "./fixture.js";

async function queueJob(file: string, id: number): Promise<{ lease_owner: string | null } | undefined> {
  const [row] = await rawRows<{ lease_owner: string | null }>(
    file,
    "select case when status = 'running' then worker_id end as lease_owner from tasks where id = ?",
    id,
  );
  return row;
}

eachDialect(() => {
  describe("graceful stop", () => {
    it("lets running tasks finish within the grace period and claims nothing new", async () => {
      const entered = gate<void>();
      const release = gate<void>();
      let aborted = false;
      const job = defineTask({
        name: "job",
        async run(label: string, ctx) {
          if (label !== "first") return label;
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
          });
          entered.open();
          await release.promise;
          return "finished in grace";
        },
      });
      const { tl } = openLedger({ tasks: [job] });
      const worker = tl.createWorker({ concurrency: 1 });
      await worker.start();
      const first = await tl.tasks.enqueue(job, "first", { description: "running at stop" });
      await entered.promise;
      let stopped = false;
      const stopping = worker.stop({ graceMs: 30_000 }).then(() => {
        stopped = true;
      });
      const later = await tl.tasks.enqueue(job, "later", { description: "enqueued while stopping" });
      expect(stopped).toBe(false);
      release.open();
      await stopping;
      expect(aborted).toBe(false);
      expect(worker.active).toBe(0);
      expect(await tl.tasks.get(first.id)).toMatchObject({
        status: "finished",
        failed: false,
        result: "finished in grace",
      });
      expect((await tl.tasks.get(later.id))?.status).toBe("queued");
      expect((await tl.status()).workers).toEqual([]);
      await worker.stopped;
    });

    it("aborts a task still running after the grace, requeues it (not failed), and a new worker finishes it", async () => {
      const entered = gate<void>();
      let reason: unknown;
      let runs = 0;
      const job = defineTask({
        name: "job",
        retry: 0,
        async run(_: null, ctx) {
          if (++runs > 1) return `done on attempt ${ctx.attempt}`;
          entered.open();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          reason = ctx.signal.reason;
          return "too late to count";
        },
      });
      const { tl, file } = openLedger({ tasks: [job] });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.enqueue(job, null, { description: "outlives the grace", owner: "alice" });
      await entered.promise;
      await worker.stop({ graceMs: 50 });

      expect((reason as Error).message).toMatch(/shutting down/);
      const requeued = await tl.tasks.get(task.id);
      expect(requeued).toMatchObject({
        status: "queued",
        failed: false,
        // Given back: a retry: 0 task still has its one attempt (not attempts 2 of maxAttempts 1).
        attempts: 0,
        maxAttempts: 1,
        progress: 0,
        result: null,
      });
      expect(requeued!.log).toMatch(
        /Interrupted by worker shutdown during attempt 1; requeued without spending/,
      );
      expect(await queueJob(file, task.id)).toEqual({ lease_owner: null });

      const next = tl.createWorker();
      await next.start();
      const done = await waitForTask(tl, task.id, isTerminal);
      expect(done).toMatchObject({
        status: "finished",
        failed: false,
        attempts: 1,
        maxAttempts: 1,
        result: "done on attempt 1",
      });
    });

    it("a handler that ignores the abort at shutdown does not hold stop() up, and its late return is ignored", async () => {
      let runs = 0;
      const entered = gate<void>();
      const release = gate<void>();
      const returned = gate<void>();
      const job = defineTask({
        name: "stubborn",
        async run(_: null) {
          if (++runs > 1) return "second";
          entered.open();
          await release.promise;
          setImmediate(() => returned.open());
          return "first";
        },
      });
      const { tl } = openLedger({ tasks: [job] });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.enqueue(job, null, { description: "ignores shutdown" });
      await entered.promise;
      await worker.stop({ graceMs: 50 });
      release.open();
      await returned.promise;
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "queued", attempts: 0, result: null });
      await tl.createWorker().start();
      expect(await waitForTask(tl, task.id, isTerminal)).toMatchObject({ attempts: 1, result: "second" });
    });

    it("close() stops the instance's workers", async () => {
      const entered = gate<void>();
      const job = defineTask({
        name: "job",
        async run(_: null, ctx) {
          entered.open();
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        },
      });
      const { tl, url } = openLedger({ tasks: [job], shutdownGraceMs: 50 });
      const worker = tl.createWorker();
      await worker.start();
      const task = await tl.tasks.enqueue(job, null, { description: "closed under it" });
      await entered.promise;
      await tl.close();
      await worker.stopped;
      await expect(tl.tasks.get(task.id)).rejects.toMatchObject({ code: "closed" });
      const reopened = openLedger({ tasks: [job], url });
      await waitFor(async () => (await reopened.tl.tasks.get(task.id))?.status === "queued", {
        message: "requeued on close",
      });
    });
  });
});
