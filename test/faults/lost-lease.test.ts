import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Taskledger } from "../../src/index.js";
import { tempDatabase, waitFor } from "../helpers/index.js";
import {
  freezeOutsideWriteLock,
  readExecutions,
  runsFile,
  startReadyWorkers,
  untilStarted,
} from "./processes.js";
import { gated, openLedger } from "./tasks.js";

let tl: Taskledger | undefined;
afterEach(async () => {
  await tl?.close();
  tl = undefined;
});

// Freezing a process and seeing it frozen take SIGSTOP and /proc.
describe.skipIf(process.platform !== "linux")(
  "a worker paused (SIGSTOP) past its lease, then resumed",
  () => {
    it("aborts its handler once it finds the lease lost, while the attempt that replaced it runs on", async () => {
      const { url, file, dir } = tempDatabase();
      const runs = runsFile(dir);
      const gate = join(dir, "gate");
      tl = openLedger(url);
      await tl.migrate();
      const [paused] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
      const task = await tl.tasks.enqueue(gated, { gate }, { description: "outlives its worker's lease" });
      await untilStarted(runs, task.id);

      await freezeOutsideWriteLock(paused!, file);
      const frozenAt = Date.now();
      const [rescuer] = await startReadyWorkers(1, { database: url, runs, concurrency: 1 });
      await untilStarted(runs, task.id, 2);
      // Three leases (1.5 s each) in all before it resumes.
      await waitFor(() => Date.now() - frozenAt > 3 * 1_500, { message: "three leases to pass" });
      paused!.child.kill("SIGCONT");

      const aborted = await waitFor(
        () => readExecutions(runs).find((e) => e.event === "abort" && e.pid === paused!.pid),
        { message: "the resumed worker to abort its stale handler" },
      );
      expect(aborted).toMatchObject({ id: task.id, attempt: 1 });
      expect(aborted.reason).toMatch(/^lease lost/);
      expect(paused!.stderr()).toMatch(/attempt 1: lease lost.*its handler was aborted/);
      expect(readExecutions(runs).some((e) => e.event === "end" && e.pid === paused!.pid)).toBe(false);

      // The attempt that replaced it is untouched.
      expect(await tl.tasks.get(task.id)).toMatchObject({ status: "running", attempts: 2 });
      writeFileSync(gate, "");
      await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
        message: "the second attempt to finish",
      });
      expect(await tl.tasks.get(task.id)).toMatchObject({
        status: "finished",
        failed: false,
        attempts: 2,
        result: { pid: rescuer!.pid, attempt: 2 },
      });
    });
  },
);
