import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { json, type RunOptions, run, spawnCli, untilOutput } from "../cli/cli.js";
import { eachDialect, isTerminal, openLedger } from "../flow/fixture.js";
import { tempDir, waitFor } from "../helpers/index.js";

/**
 * The example's `fetch_rss` schedule (the seeds' demo): against a feed served on 127.0.0.1, and
 * against one that cannot be reached. Then the whole thing under `taskledger start`, seen from
 * `taskledger schedules …`, `tasks list` and `status`.
 */
const FEED = `<?xml version="1.0"?>
<rss version="2.0"><channel><title>Local &amp; Co news</title>
<item><title>First</title></item>
<item><title><![CDATA[Second <b>bold</b>]]></title></item>
<item><title>Third</title></item>
</channel></rss>`;

let server: Server;
let feedUrl: string;
beforeEach(async () => {
  server = createServer((request, response) => {
    if (request.url === "/feed.xml") {
      response.writeHead(200, { "content-type": "application/rss+xml" }).end(FEED);
    } else {
      response.writeHead(404).end("no such feed");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.xml`;
});
afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function exampleTask() {
  return (await import("../../examples/mailer/tasks/fetch-rss.js")).fetchRss;
}

eachDialect(() => {
  describe("the example's fetch_rss schedule", () => {
    it("fetches the feed on its schedule and records how many items it found", async () => {
      const fetchRss = await exampleTask();
      const { tl } = openLedger({ tasks: [fetchRss], heartbeatMs: 200, leaseMs: 1_000 });
      await tl.schedules.schedule({
        key: "rss",
        task: fetchRss,
        payload: { url: feedUrl },
        description: "feed",
        every: 5 * 60_000,
      });
      const worker = tl.createWorker({ withScheduler: true });
      await worker.start();
      const [runTask] = await waitFor(async () => {
        const runs = await tl.schedules.runs("rss");
        return runs.length === 1 && isTerminal(runs[0]!) ? runs : undefined;
      });
      expect(runTask).toMatchObject({
        name: "fetch_rss",
        status: "finished",
        failed: false,
        description: "feed",
      });
      expect(runTask!.result).toEqual({
        url: feedUrl,
        title: "Local & Co news",
        items: 3,
        latest: ["First", "Second <b>bold</b>", "Third"],
      });
      expect(await tl.schedules.get("rss")).toMatchObject({ status: "running", runCount: 1 });
      await worker.stop();
    });

    it("fails clearly when the feed cannot be reached, and marks its schedule failed", async () => {
      const fetchRss = await exampleTask();
      const { tl } = openLedger({ tasks: [fetchRss] });
      const closed = await new Promise<number>((resolve) => {
        const probe = createServer().listen(0, "127.0.0.1", () => {
          const { port } = probe.address() as AddressInfo;
          probe.close(() => resolve(port));
        });
      });
      const url = `http://127.0.0.1:${closed}/feed.xml`;
      const missing = feedUrl.replace("feed.xml", "missing.xml");
      await tl.schedules.schedule({
        key: "down",
        task: fetchRss,
        payload: { url },
        description: "down",
        every: 60_000,
        retry: 0,
      });
      await tl.schedules.schedule({
        key: "404",
        task: fetchRss,
        payload: { url: missing },
        description: "404",
        every: 60_000,
        retry: 0,
      });
      const worker = tl.createWorker({ withScheduler: true });
      await worker.start();
      for (const [key, log] of [
        ["down", `cannot reach the feed ${url}: ECONNREFUSED`],
        ["404", `the feed ${missing} answered 404 Not Found`],
      ] as const) {
        const [failed] = await waitFor(async () => {
          const runs = await tl.schedules.runs(key);
          return runs.length === 1 && isTerminal(runs[0]!) ? runs : undefined;
        });
        expect(failed).toMatchObject({ status: "finished", failed: true });
        expect(failed!.log).toContain(log);
        await waitFor(async () => (await tl.schedules.get(key))?.status === "failed", {
          message: `${key} failed`,
        });
      }
      await worker.stop();
    });
  });

  describe("under `taskledger start` (the bundled example)", () => {
    let dir: string;
    let opts: RunOptions;
    beforeEach(() => {
      dir = tempDir("tl-sched-start-");
      opts = {
        cwd: dir,
        database: `sqlite:${join(dir, "ledger.db")}`,
        env: { PORT: "0", RSS_FEED_URL: feedUrl },
      };
    });

    it("runs the RSS schedule; its runs show in `tasks list` and `schedules list`; pause, sync, remove", async () => {
      const start = spawnCli(["start"], opts);
      await untilOutput(start, "the bundled example");
      const list = await waitFor(
        async () => {
          const schedules = json(await run(["schedules", "list", "--json"], opts)).schedules;
          return schedules[0]?.runCount === 1 ? schedules : undefined;
        },
        { timeoutMs: 30_000, message: "the first RSS run" },
      );
      expect(list).toEqual([
        expect.objectContaining({
          key: "fetch-rss",
          name: "fetch_rss",
          status: "running",
          declared: true,
          every: 300_000,
          payload: { url: feedUrl },
        }),
      ]);
      const runId = await waitFor(
        async () => {
          const tasks = json(await run(["tasks", "list", "--json"], opts)).tasks;
          const found = tasks.find(
            (t: { name: string; status: string }) => t.name === "fetch_rss" && t.status === "finished",
          );
          return found?.id as number | undefined;
        },
        { timeoutMs: 30_000, message: "the RSS run to finish" },
      );
      const shown = json(await run(["tasks", "show", String(runId), "--json"], opts));
      expect(shown).toMatchObject({
        scheduleId: list[0].id,
        failed: false,
        result: { items: 3, title: "Local & Co news" },
      });
      expect(
        json(await run(["schedules", "runs", "fetch-rss", "--json"], opts)).runs.map(
          (r: { id: number }) => r.id,
        ),
      ).toEqual([runId]);

      const human = await run(["schedules", "list"], opts);
      expect(human.stdout).toMatch(/fetch-rss\s+fetch_rss\s+every 5 min\s+running/);

      const status = json(await run(["status", "--json"], opts));
      expect(status.scheduler).toMatchObject({ running: true });
      expect(status.scheduler.holder).toContain(`:${start.child.pid}:`);
      expect((await run(["status"], opts)).stdout).toMatch(/scheduler running · .* last seen /);

      expect(json(await run(["schedules", "pause", "fetch-rss", "--json"], opts)).pausedAt).not.toBeNull();
      expect(json(await run(["schedules", "resume", "fetch-rss", "--json"], opts)).pausedAt).toBeNull();
      expect(json(await run(["schedules", "sync", "--json"], opts))).toMatchObject({
        added: [],
        updated: [],
        kept: ["fetch-rss"],
        removed: [],
      });
      const changed = await run(["schedules", "sync"], {
        ...opts,
        env: { ...opts.env, RSS_FEED_URL: `${feedUrl}?v=2` },
      });
      expect(changed.stdout).toMatch(/updated\s+1\s+fetch-rss/);

      start.child.kill("SIGTERM");
      expect((await start.done).code).toBe(0);
      const stopped = json(await run(["status", "--json"], opts));
      expect(stopped.scheduler).toMatchObject({ running: false, holder: null });
      expect((await run(["status"], opts)).stdout).toContain("scheduler not running");

      expect(json(await run(["schedules", "remove", "fetch-rss", "--json"], opts))).toMatchObject({
        removed: { key: "fetch-rss" },
        runs: 1,
      });
      expect(
        json(await run(["tasks", "list", "--json"], opts)).tasks.filter(
          (t: { name: string }) => t.name === "fetch_rss",
        ),
      ).toEqual([]);
      const missing = await run(["schedules", "pause", "fetch-rss"], opts);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('no schedule "fetch-rss"');
      expect((await run(["schedules", "frobnicate"], opts)).code).toBe(2);
    }, 90_000);

    it("without RSS_FEED_URL, reads the feed the demo's web app serves itself (no internet needed)", async () => {
      const own = { ...opts, env: { PORT: "0", RSS_FEED_URL: "" } };
      const start = spawnCli(["start"], own);
      await untilOutput(start, "the bundled example");
      const web = /web\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(start.stdout())?.[1];
      expect(web).toBeDefined();
      const finished = await waitFor(
        async () =>
          json(await run(["tasks", "list", "--json"], own)).tasks.find(
            (t: Parameters<typeof isTerminal>[0]) => t.name === "fetch_rss" && isTerminal(t),
          ),
        { timeoutMs: 30_000, message: "the first RSS run" },
      );
      expect(finished).toMatchObject({
        status: "finished",
        failed: false,
        payload: { url: null },
        result: { url: `${web}/feed.xml`, title: "taskledger demo feed", items: 4 },
      });
      expect(json(await run(["schedules", "list", "--json"], own)).schedules[0]).toMatchObject({
        key: "fetch-rss",
        status: "running",
      });
      start.child.kill("SIGTERM");
      expect((await start.done).code).toBe(0);
    }, 60_000);
  });
});
