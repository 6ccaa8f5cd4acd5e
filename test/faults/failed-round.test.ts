import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import { holdWriteLock, readExecutions, runsFile, startReadyWorkers, untilStarted } from "./processes.js";
import { gated, openLedger, readTasks } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

describe("a worker round whose transaction fails", () => {
  it("keeps a finished outcome while another process holds the write lock past the busy timeout, and writes it after", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    const gate = join(dir, "gate");
    tl = openLedger(url);
    await tl.migrate();
    // A lease far longer than the lock is held: the outcome must be written by this worker, not recovered.
    const [proc] = await startReadyWorkers(1, {
      database: url,
      runs,
      concurrency: 1,
      busyMs: 300,
      leaseMs: 60_000,
    });
    const task = await tl.tasks.enqueue(
      gated,
      { gate },
      { description: "finishes while the ledger is locked" },
    );
    await untilStarted(runs, task.id);

    const lock = await holdWriteLock(file, 2_500);
    writeFileSync(gate, "");
    await waitFor(() => readExecutions(runs).some((e) => e.event === "end" && e.id === task.id), {
      message: "the handler to return",
    });
    await waitFor(() => /could not write to the ledger: the ledger is locked/.test(proc!.stderr()), {
      message: "the worker to say its round failed",
    });
    expect(readTasks(file)[0]!.status).toBe("running");
    await lock.released;

    await waitFor(() => readTasks(file)[0]!.status === "finished", {
      message: "the kept outcome to be written",
    });
    expect(readTasks(file)[0]).toMatchObject({ status: "finished", failed: 0, attempts: 1 });
    expect(JSON.parse(readTasks(file)[0]!.result!)).toEqual({ pid: proc!.pid, attempt: 1 });
  });

  it("stops claiming after repeated failed rounds, says why, and resumes by itself once the ledger is writable", async () => {
    const { url, file, dir } = tempDatabase();
    const runs = runsFile(dir);
    const gate = join(dir, "gate");
    tl = openLedger(url);
    await tl.migrate();
    const [proc] = await startReadyWorkers(1, {
      database: url,
      runs,
      concurrency: 1,
      busyMs: 100,
      leaseMs: 60_000,
    });
    const first = await tl.tasks.enqueue(gated, { gate }, { description: "finishes under a long lock" });
    await untilStarted(runs, first.id);

    const lock = await holdWriteLock(file, 4_000);
    writeFileSync(gate, "");
    await waitFor(
      () => /stopped claiming: 5 rounds in a row could not write to the ledger/.test(proc!.stderr()),
      {
        message: "the worker to say it stopped claiming",
      },
    );
    await lock.released;
    await waitFor(
      () =>
        /the ledger is writable again after \d+ failed rounds; 1 kept outcome\(s\) written; claiming resumed/.test(
          proc!.stderr(),
        ),
      {
        message: "the worker to say it resumed",
      },
    );
    expect(readTasks(file)[0]).toMatchObject({ status: "finished", failed: 0, attempts: 1 });

    // Claiming again: a new task runs.
    const second = await tl.tasks.enqueue(gated, { gate }, { description: "after the recovery" });
    await waitFor(async () => (await tl!.tasks.get(second.id))?.status === "finished", {
      message: "a task enqueued after the recovery to run",
    });
    // It said so once each, not once per try.
    expect(proc!.stderr().match(/stopped claiming/g)).toHaveLength(1);
  });
});
