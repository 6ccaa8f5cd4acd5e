import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tempDir, waitFor } from "../helpers/index.js";
import { json, type RunOptions, readTask, run, spawnCli, untilOutput, writeGatedConfig } from "./cli.js";

/** `taskledger worker` as a real process, with `enqueue` run from other processes. */
let dir: string;
let file: string;
let opts: RunOptions;

beforeEach(() => {
  dir = tempDir("tl-cli-worker-");
  file = join(dir, "ledger.db");
  opts = { cwd: dir, database: `sqlite:${file}` };
});

const cli = (...args: string[]) => run(args, opts);

async function startWorker(...args: string[]) {
  const worker = spawnCli(["worker", ...args], opts);
  await untilOutput(worker, /^taskledger worker \S+ — queues /m);
  return worker;
}

describe("taskledger worker", () => {
  it("runs a task enqueued from another process; enqueue --wait follows it to its result", async () => {
    const worker = await startWorker("--concurrency", "2");
    expect(worker.stdout()).toContain("examples/mailer/taskledger.config.js");

    const waited = await cli(
      "enqueue",
      "count_words",
      "--description",
      "count",
      "--payload",
      '"to be or not to be"',
      "--wait",
    );
    expect(waited.code, waited.stderr).toBe(0);
    const lines = waited.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`ledger: ${file}`);
    expect(lines[1]).toBe("Task #1 count_words queued; waiting (Ctrl-C stops waiting, not the task)…");
    expect(lines).toContain("#1 count_words [####################] 100% finished");
    expect(lines.at(-1)).toBe('Result: {"words":6,"distinct":4,"top":{"to":2,"be":2,"or":1,"not":1}}');
    await untilOutput(worker, "#1 count_words finished");

    const shown = json(await cli("tasks", "show", "1", "--json"));
    expect(shown).toMatchObject({
      status: "finished",
      failed: false,
      progress: 100,
      attempts: 1,
      result: { words: 6 },
    });

    // A finished task cannot be canceled: exit 1 with the reason.
    const cancel = await cli("tasks", "cancel", "1");
    expect(cancel.code).toBe(1);
    expect(cancel.stdout).toBe("");
    expect(cancel.stderr.trim()).toBe(
      "Task #1 was not canceled: task 1 has already finished; it cannot be canceled",
    );

    const status = json(await cli("status", "--json"));
    expect(status.counts).toEqual([{ queue: "default", status: "finished", count: 1 }]);
    expect(status.workers).toHaveLength(1);
    expect(status.workers[0]).toMatchObject({ pid: worker.child.pid, concurrency: 2 });

    worker.child.kill("SIGTERM");
    const exited = await worker.done;
    expect(exited.code, exited.stderr).toBe(0);
    expect(exited.stdout).toContain("Stopped.");
  });

  it("tasks show --follow draws the progress until the end; enqueue --wait --json prints only the finished task", async () => {
    writeGatedConfig(dir);
    const gate = join(dir, "gate");
    await startWorker();

    const queued = json(
      await cli(
        "enqueue",
        "gated",
        "--description",
        "gated",
        "--payload",
        JSON.stringify({ gate }),
        "--json",
      ),
    );
    const follower = spawnCli(["tasks", "show", String(queued.id), "--follow"], opts);
    await untilOutput(follower, `#${queued.id} gated [##########----------]  50% running`);
    writeFileSync(gate, "");
    const followed = await follower.done;
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toContain(`#${queued.id} gated [####################] 100% finished`);
    expect(followed.stdout).toMatch(/^status\s+finished$/m);
    expect(followed.stdout).toMatch(/^result\s+\{"opened":true\}$/m);

    const echoed = await cli(
      "enqueue",
      "echo",
      "--description",
      "echo",
      "--payload",
      '{"x":[1,2]}',
      "--wait",
      "--json",
    );
    expect(echoed.code, echoed.stderr).toBe(0);
    expect(json(echoed)).toMatchObject({
      name: "echo",
      status: "finished",
      failed: false,
      result: { x: [1, 2] },
    });
  });

  it("stops on SIGTERM once its running task has finished, claims nothing more, and exits 0", async () => {
    writeGatedConfig(dir);
    const gate = join(dir, "gate");
    const worker = await startWorker();

    const waiter = spawnCli(
      ["enqueue", "gated", "--description", "held", "--payload", JSON.stringify({ gate }), "--wait"],
      opts,
    );
    await untilOutput(waiter, "#1 gated [##########----------]  50% running");

    worker.child.kill("SIGTERM");
    await untilOutput(worker, "SIGTERM: shutting down");
    const late = json(
      await cli("enqueue", "echo", "--description", "enqueued during shutdown", "--payload", "1", "--json"),
    );
    // The running task holds the shutdown: it is neither aborted nor requeued.
    expect(readTask(file, 1)).toMatchObject({ status: "running", progress: 50 });
    expect(worker.child.exitCode).toBeNull();

    writeFileSync(gate, "");
    const exited = await worker.done;
    expect(exited.code, exited.stderr).toBe(0);
    expect(exited.stdout).toContain("Stopped.");
    expect(readTask(file, 1)).toMatchObject({ status: "finished", failed: 0, progress: 100, attempts: 1 });
    expect(readTask(file, late.id)).toMatchObject({ status: "queued", attempts: 0 });

    const waited = await waiter.done;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout.trimEnd().split("\n").at(-1)).toBe('Result: {"opened":true}');
  });

  it("stops gracefully on a SIGTERM sent the moment its banner appears", async () => {
    const worker = spawnCli(["worker", "--json"], opts);
    worker.child.stdout!.once("data", () => worker.child.kill("SIGTERM"));
    const exited = await worker.done;
    expect(exited.signal, exited.stderr).toBeNull();
    expect(exited.code, exited.stderr).toBe(0);
    expect(json(exited)).toMatchObject({ pid: worker.child.pid });
  });

  it("exits 1 from enqueue --wait when the task fails, printing its log", async () => {
    writeGatedConfig(dir);
    await startWorker();
    // `gated` destructures its payload: null makes it throw, and it has no retries.
    const waited = await cli(
      "enqueue",
      "gated",
      "--description",
      "bad payload",
      "--payload",
      "null",
      "--wait",
    );
    expect(waited.code).toBe(1);
    expect(waited.stdout).toMatch(/^#1 gated \[.*\]\s+\d+% failed$/m);
    expect(waited.stdout).toContain("TypeError");
    await waitFor(() => readTask(file, 1)?.status === "finished", {
      message: "task 1 to be recorded as finished",
    });
    expect(readTask(file, 1)).toMatchObject({ failed: 1, attempts: 1 });
  });

  it("status warns of a queue with tasks waiting and no live worker serving it, until one does", async () => {
    writeGatedConfig(dir, { extra: `, queues: ["default", "reports"], leaseMs: 1_000` });
    const gate = join(dir, "gate");
    for (const n of [1, 2, 3]) {
      const args = [
        "--description",
        `report ${n}`,
        "--payload",
        JSON.stringify({ gate }),
        "--queue",
        "reports",
      ];
      const enqueued = await cli("enqueue", "gated", ...args);
      expect(enqueued.code, enqueued.stderr).toBe(0);
    }
    const warning = (n: number) =>
      `! queue "reports": ${n} tasks waiting, no live worker serves it (start one with: taskledger worker --queues reports)`;
    expect((await cli("status")).stdout).toContain(warning(3));

    await startWorker("--queues", "default");
    expect((await cli("status")).stdout).toContain(warning(3));
    const asJson = json(await cli("status", "--json"));
    expect(asJson.workers).toHaveLength(1);
    expect(asJson.unservedQueues).toEqual([{ queue: "reports", waiting: 3 }]);

    const reports = await startWorker("--queues", "reports", "--concurrency", "1");
    await waitFor(() => [1, 2, 3].some((id) => readTask(file, id)?.status === "running"), {
      message: "one report running",
    });
    const served = await cli("status");
    expect(served.stdout).toMatch(/^QUEUE\s+RESERVED\s+QUEUED\s+RUNNING\s/m);
    expect(served.stdout).toMatch(/^reports\s+0\s+2\s+1\s+0\s+0\s+0$/m);
    expect(served.stdout).not.toContain("! queue");
    expect(json(await cli("status", "--json")).unservedQueues).toEqual([]);

    // A worker killed outright is not live once a lease has gone by without it.
    reports.child.kill("SIGKILL");
    await reports.done;
    await waitFor(async () => (await cli("status")).stdout.includes('! queue "reports": '), {
      intervalMs: 200,
      message: "the warning to come back",
    });
  });
});
