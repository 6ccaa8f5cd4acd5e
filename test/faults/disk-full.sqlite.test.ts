import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { runsFile, startReadyWorkers, untilStarted } from "./processes.js";
import { big, openLedger, readTasks } from "./tasks.js";

/**
 * A full disk, for real: the ledger on a small tmpfs of its own (mounting needs root). Where it
 * cannot be mounted the test skips, saying why — unless TASKLEDGER_TEST_STRICT=1 (CI).
 */
const STRICT = process.env.TASKLEDGER_TEST_STRICT === "1";
const mounts: string[] = [];
let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
  for (const mount of mounts.splice(0)) execFileSync("umount", ["-l", mount]);
});

function mountSmallDisk(): string | { skip: string } {
  const dir = join(tempDir("tl-disk-"), "disk");
  mkdirSync(dir);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir], { stdio: "pipe" });
  } catch (error) {
    const reason = `cannot mount a small tmpfs to fill (${String((error as Error).message).split("\n")[0]})`;
    if (STRICT) throw new Error(`${reason}; TASKLEDGER_TEST_STRICT=1 forbids skipping the full-disk test`);
    return { skip: reason };
  }
  mounts.push(dir);
  return dir;
}

/** Write a file until the disk says no more. */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}

/** CPU time a process has used, ms (user + system, from /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

describe.skipIf(process.platform !== "linux")("the disk holding the ledger fills up", () => {
  it("the worker keeps the outcome, backs off without a hot loop, and writes it by itself once space returns", async (ctx) => {
    const disk = mountSmallDisk();
    if (typeof disk !== "string") return ctx.skip(disk.skip);
    const dir = tempDir("tl-disk-runs-");
    const url = `sqlite:${join(disk, "ledger.db")}`;
    const runs = runsFile(dir);
    const gate = join(dir, "gate");
    tl = openLedger(url);
    await tl.migrate();
    const [proc] = await startReadyWorkers(1, { database: url, runs, concurrency: 1, leaseMs: 60_000 });
    // Its result needs more room in the log than the log has: the write that records it must grow the file.
    const task = await tl.tasks.enqueue(big, { gate, size: 900_000 }, { description: "a large result" });
    await untilStarted(runs, task.id);

    const filler = join(disk, "filler");
    fill(filler);
    writeFileSync(gate, "");
    await waitFor(() => /the disk holding the ledger is full/.test(proc!.stderr()), {
      message: "the worker to say the disk is full",
    });

    // Three seconds of a full disk: a few lines, a little CPU — not a line per try, not a busy core.
    const lines = proc!.stderr().split("\n").length;
    const cpu = cpuMs(proc!.pid);
    const from = Date.now();
    await waitFor(() => Date.now() - from > 3_000, { message: "three seconds" });
    expect(proc!.stderr().split("\n").length - lines).toBeLessThan(10);
    expect(cpuMs(proc!.pid) - cpu).toBeLessThan(1_000);
    expect(readTasks(join(disk, "ledger.db"))[0]!.status).toBe("running");

    rmSync(filler);
    await waitFor(() => readTasks(join(disk, "ledger.db"))[0]!.status === "finished", {
      timeoutMs: 20_000,
      message: "the kept outcome to be written once space returned",
    });
    const done = readTasks(join(disk, "ledger.db"))[0]!;
    expect(done).toMatchObject({ status: "finished", failed: 0, attempts: 1 });
    expect(JSON.parse(done.result!)).toHaveLength(900_000);
  });
});
