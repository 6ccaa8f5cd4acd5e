import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { ManualClock, openLedger } from "../flow/fixture.js";
import { tableCounts, tempDatabase } from "../helpers/index.js";
import { json, type RunOptions, run } from "./cli.js";

/** `taskledger prune` run as a process, on a ledger written beforehand with a clock set back. */
const DAY = 86_400_000;
const job = defineTask({ name: "job", run: () => 0 });

/** Three tasks canceled 40 days ago, one queued 40 days ago, one canceled a day ago. */
async function oldLedger(): Promise<{ file: string; opts: RunOptions }> {
  const { url, file, dir } = tempDatabase();
  const clock = new ManualClock(Date.now() - 40 * DAY);
  const { tl } = openLedger({ tasks: [job], clock, url });
  for (let i = 0; i < 3; i++) {
    const task = await tl.tasks.enqueue(job, null, { description: `old ${i}` });
    await tl.tasks.cancel(task.id);
  }
  await tl.tasks.enqueue(job, null, { description: "old, still queued" });
  clock.advance(39 * DAY);
  const young = await tl.tasks.enqueue(job, null, { description: "a day old" });
  await tl.tasks.cancel(young.id);
  await tl.close();
  return { file, opts: { cwd: dir, database: url } };
}

describe("taskledger prune", () => {
  it("--dry-run counts what is older than --older-than and removes nothing; without it, removes that", async () => {
    const { file, opts } = await oldLedger();
    const before = tableCounts(file);

    const dry = await run(["prune", "--older-than", "30d", "--dry-run"], opts);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim()).toBe(
      `Would prune 3 tasks, 6 notifications and 0 schedule runs older than 30 days from ${file}`,
    );
    expect(tableCounts(file)).toEqual(before);

    const done = await run(["prune", "--older-than", "720h", "--json"], opts);
    expect(done.code, done.stderr).toBe(0);
    expect(json(done)).toEqual({
      tasks: 3,
      notifications: 6,
      scheduleRuns: 0,
      olderThanMs: 30 * DAY,
      dryRun: false,
    });
    expect(tableCounts(file)).toMatchObject({
      tasks: before.tasks! - 3,
      notifications: before.notifications! - 6,
    });

    const younger = await run(["prune", "--older-than", "720m"], opts);
    expect(younger.code, younger.stderr).toBe(0);
    expect(younger.stdout.trim()).toBe(
      `Pruned 1 task, 2 notifications and 0 schedule runs older than 12 hours from ${file}`,
    );
  });

  it("defaults --older-than to 30 days; the queued task stays whatever its age", async () => {
    const { file, opts } = await oldLedger();
    const result = await run(["prune", "--json", "--dry-run"], opts);
    expect(result.code, result.stderr).toBe(0);
    expect(json(result)).toMatchObject({ tasks: 3, olderThanMs: 30 * DAY, dryRun: true });

    // Every ended task, the one canceled a day ago too; the queued one stays.
    const all = await run(["prune", "--older-than", "0s", "--json"], opts);
    expect(json(all)).toMatchObject({ tasks: 4 });
    expect(tableCounts(file)).toMatchObject({ tasks: 1 });
  });

  it("refuses a bad duration as a usage error naming the flag (exit 2); --help lists flags and defaults", async () => {
    const { file, opts } = await oldLedger();
    const before = tableCounts(file);
    for (const bad of ["30", "30x", "-1d", "1.5h", "d"]) {
      const result = await run(["prune", "--older-than", bad], opts);
      expect(result.code, `${bad}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("--older-than");
      expect(result.stderr).toContain("Usage: taskledger prune");
    }
    expect(tableCounts(file)).toEqual(before);

    const help = await run(["prune", "--help"], opts);
    expect(help.code).toBe(0);
    for (const text of ["--older-than AGE", "--dry-run", "default", "30d", "retention.scheduleRuns"]) {
      expect(help.stdout).toContain(text);
    }
  });
});
