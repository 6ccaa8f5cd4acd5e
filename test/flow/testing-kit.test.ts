import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { createTestLedger, runTask } from "../../src/testing/index.js";

describe("taskledger/testing", () => {
  it("runTask gives a handler's result, its progress and its points of no return", async () => {
    const job = defineTask({
      name: "job",
      async run(n: number, ctx) {
        await ctx.setProgress(10);
        await ctx.setProgress(90, { step: "almost" });
        await ctx.pointOfNoReturn("writing");
        return n * 2;
      },
    });
    expect(await runTask(job, 21)).toMatchObject({
      status: "finished",
      result: 42,
      progress: [{ progress: 10 }, { progress: 90, data: { step: "almost" } }],
      pointsOfNoReturn: ["writing"],
    });
  });

  it("runTask reports a throw, a timeout and a cancel as a worker would", async () => {
    const throws = defineTask({ name: "throws", run: () => Promise.reject(new Error("nope")) });
    const hangs = defineTask({
      name: "hangs",
      run: (_: null, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
        ),
    });
    expect(await runTask(throws, null)).toMatchObject({ status: "failed", error: new Error("nope") });
    expect(await runTask(hangs, null, { timeout: 20 })).toMatchObject({ status: "failed", timedOut: true });
    expect(await runTask(hangs, null, { cancelAfterMs: 5 })).toMatchObject({ status: "canceled" });
  });

  it("createTestLedger: assert what was enqueued, drain it (and what it enqueues in turn), retries included", async () => {
    let tries = 0;
    const second = defineTask({ name: "second", run: (n: number) => n + 1 });
    const first = defineTask({
      name: "first",
      retry: { max: 1, delay: 1 },
      async run(n: number) {
        if (++tries === 1) throw new Error("flaky");
        await t.tl.tasks.enqueue(second, n, { description: "follow-up", owner: "bob" });
        return n;
      },
    });
    const t = createTestLedger({ tasks: [first, second] });
    try {
      await t.tl.tasks.enqueue(first, 1, { description: "first", owner: "bob" });
      expect((await t.enqueued({ task: first, owner: "bob" })).map((task) => task.payload)).toEqual([1]);
      expect(await t.enqueued({ task: second })).toEqual([]);
      const done = await t.drain();
      expect(done.map((task) => [task.name, task.status, task.failed, task.result])).toEqual([
        ["first", "finished", false, 1],
        ["second", "finished", false, 2],
      ]);
      expect(await t.enqueued()).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it("the documented example runs as written against the built package", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["examples/testing/kit.mjs"]);
    expect(stdout.trim()).toBe("taskledger/testing: ok");
  });
});
