import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import { readExecutions, runsFile, startReadyWorkers, untilStarted } from "./processes.js";
import { last, openLedger } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

describe("a task's last attempt interrupted by a worker's shutdown", () => {
  it("is given back: the task is queued with its one attempt unspent, and the next worker's run is attempt 1 of 1", async () => {
    const { url, dir } = tempDatabase();
    const runs = runsFile(dir);
    const gate = join(dir, "gate");
    tl = openLedger(url);
    await tl.migrate();
    const [first] = await startReadyWorkers(1, { database: url, runs, concurrency: 1, graceMs: 200 });
    const task = await tl.tasks.enqueue(last, { gate }, { description: "retry: 0, outlives the grace" });
    expect(task.maxAttempts).toBe(1);
    await untilStarted(runs, task.id);

    first!.child.kill("SIGTERM");
    expect(await first!.exit).toBe(0);
    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "queued",
      failed: false,
      attempts: 0,
      maxAttempts: 1,
    });

    writeFileSync(gate, "");
    const [second] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      message: "the released task to finish",
    });
    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "finished",
      failed: false,
      attempts: 1,
      maxAttempts: 1,
      result: { pid: second!.pid, attempt: 1 },
    });
    expect(readExecutions(runs).filter((e) => e.event === "start")).toHaveLength(2);
  });
});
