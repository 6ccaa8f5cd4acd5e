import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Taskledger } from "../../src/index.js";
import { DIALECTS, freshDatabaseUrl, skipped } from "../helpers/dialects.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { run } from "./cli.js";

/**
 * The `taskledger` command on a server ledger (TASKLEDGER_DATABASE_URL=postgres://… or mysql://…):
 * migrate and every read work as on SQLite; enqueue and a worker say what to configure, since
 * the embedded engine runs on SQLite only.
 */
const echo = defineTask({ name: "echo", retry: 0, run: (payload: unknown) => payload });
const fails = defineTask({
  name: "fails",
  retry: 0,
  run: () => {
    throw new Error("it failed");
  },
});

const opened: Taskledger[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0)) await tl.close();
});

for (const dialect of DIALECTS.filter((d) => d.name !== "sqlite")) {
  describe.skipIf(skipped(dialect))(`the CLI on a ${dialect.name} ledger`, () => {
    let url: string;
    beforeEach(async () => {
      url = await freshDatabaseUrl(dialect.name);
    });
    const cli = (...args: string[]) => run(args, { cwd: tempDir(), database: url });
    const json = async (...args: string[]) => {
      const result = await cli(...args, "--json");
      expect(result.stderr, result.stdout).toBe("");
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout);
    };

    it("migrates, then reads tasks, one task, status and schedules written by the library", async () => {
      expect(await json("migrate")).toMatchObject({ ok: true });
      // The library writes them (the in-process engine runs tasks on a server ledger).
      const tl = createTaskledger({
        database: url,
        engine: "memory",
        tasks: [echo, fails],
        pollIntervalMs: 20,
      });
      opened.push(tl);
      const done = await tl.tasks.enqueue(echo, { n: 1 }, { description: "echoes", owner: "alice" });
      const failed = await tl.tasks.enqueue(fails, null, { description: "fails", owner: "alice" });
      const worker = tl.createWorker();
      await worker.start();
      await waitFor(async () => (await tl.tasks.get(failed.id))?.status === "finished", {
        message: "fails ended",
      });
      await waitFor(async () => (await tl.tasks.get(done.id))?.status === "finished", {
        message: "echo ended",
      });
      await worker.stop();
      const reserved = await tl.tasks.reserve(Date.now() + 3_600_000, echo, 2, {
        description: "later",
        owner: "bob",
      });
      await tl.schedules.schedule({
        key: "hourly",
        task: echo,
        payload: 3,
        description: "every hour",
        every: 3_600_000,
      });

      const list = await json("tasks", "list");
      expect(list.tasks.map((t: { id: number }) => t.id)).toEqual([reserved.id, failed.id, done.id]);
      expect(list.tasks.map((t: { status: string }) => t.status)).toEqual([
        "reserved",
        "finished",
        "finished",
      ]);
      const mine = await json("tasks", "list", "--owner", "alice");
      expect(mine.tasks).toHaveLength(2);
      const shown = await json("tasks", "show", String(done.id));
      expect(shown).toMatchObject({ id: done.id, status: "finished", result: { n: 1 }, owner: "alice" });
      const status = await json("status");
      expect(status.counts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ status: "reserved", count: 1 }),
          expect.objectContaining({ status: "failed", count: 1 }),
        ]),
      );
      const schedules = await json("schedules", "list");
      expect(schedules.schedules.map((s: { key: string }) => s.key)).toEqual(["hourly"]);
      // The human output names the ledger (never its password).
      const human = await cli("tasks", "list");
      expect(human.code).toBe(0);
      expect(human.stdout).toContain(
        `ledger: ${dialect.name === "postgres" ? "postgres" : "mysql"}://127.0.0.1:`,
      );
      expect(human.stdout).not.toMatch(/taskledger:taskledger@/);
    });

    it("refuses to enqueue or run a worker without a scale-out engine, saying what to configure, and writes nothing", async () => {
      await json("migrate");
      const enqueue = await cli(
        "enqueue",
        "count_words",
        "--payload",
        JSON.stringify("a b c"),
        "--description",
        "x",
        "--json",
      );
      expect(enqueue.code).not.toBe(0);
      expect(`${enqueue.stdout}${enqueue.stderr}`).toMatch(/TASKLEDGER_REDIS_URL/);
      const worker = await cli("worker");
      expect(worker.code).not.toBe(0);
      expect(worker.stderr).toMatch(/SQLite ledger only.*TASKLEDGER_REDIS_URL/s);
      expect((await json("tasks", "list")).tasks).toEqual([]);
    });
  });
}
