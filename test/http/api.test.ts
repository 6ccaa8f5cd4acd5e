import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpHandler, type HttpHandler } from "../../src/http/index.js";
import { defineTask } from "../../src/index.js";
import { ENDING_TASKS, eachDialect, gate, oneOfEachEnd, openLedger } from "../flow/fixture.js";
import { ledgerCounts, waitFor } from "../helpers/index.js";
import { clientFor, readEvents, testAuthenticate } from "./client.js";

const execFileAsync = promisify(execFile);
const RESERVE_FIXTURE = fileURLToPath(new URL("./fixtures/reserve.mjs", import.meta.url));

const held = new Map<number, ReturnType<typeof gate>>();
const hold = (id: number) => {
  if (!held.has(id)) held.set(id, gate());
  return held.get(id)!;
};

const echo = defineTask({ name: "echo", run: (payload: unknown) => ({ echoed: payload }) });
/** Reports 25, 50, 75, then waits for the test to let it finish. */
const steps = defineTask({
  name: "steps",
  retry: 0,
  async run(_payload: unknown, ctx) {
    for (const p of [25, 50, 75]) await ctx.setProgress(p);
    await Promise.race([
      hold(ctx.id).promise,
      new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
    ]);
    return { done: true };
  },
});

const handlers: HttpHandler[] = [];
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
  held.clear();
});

function setup(options: { lead?: number; pollIntervalMs?: number } = {}) {
  const fixture = openLedger({
    tasks: [echo, steps, ...ENDING_TASKS],
    reservationLeadSeconds: options.lead ?? 30,
    ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
  });
  const api = createHttpHandler(fixture.tl, { authenticate: testAuthenticate, maxBodyBytes: 10_000 });
  handlers.push(api);
  return {
    ...fixture,
    api,
    alice: clientFor(api, "alice"),
    bob: clientFor(api, "bob"),
    root: clientFor(api, "root"),
  };
}

eachDialect((dialect) => {
  describe("HTTP API", () => {
    it("answers health without a user and refuses task data without one (401)", async () => {
      const { api } = setup();
      const anonymous = clientFor(api, null);
      const health = await anonymous.get("/api/health");
      expect(health.status).toBe(200);
      // The embedded engine on SQLite; on a server ledger the tests run the in-process one.
      expect(await health.json()).toMatchObject({
        ok: true,
        engine: dialect.name === "sqlite" ? "embedded" : "memory",
      });
      for (const path of ["/api/tasks", "/api/tasks/1", "/api/notifications", "/api/events", "/api/status"]) {
        const response = await anonymous.get(path);
        expect(response.status, path).toBe(401);
        expect(await response.json()).toEqual({ error: { code: "unauthorized", message: "log in first" } });
      }
      expect((await anonymous.post("/api/tasks", { task: "echo", description: "x" })).status).toBe(401);
    });

    it("enqueues with POST /api/tasks: 201, the Task JSON with ISO times, owned by the caller", async () => {
      const { alice } = setup();
      const response = await alice.post("/api/tasks", {
        task: "echo",
        payload: { n: 1 },
        description: "say it",
      });
      expect(response.status).toBe(201);
      const task = await response.json();
      expect(response.headers.get("location")).toBe(`/api/tasks/${task.id}`);
      expect(task).toMatchObject({
        name: "echo",
        description: "say it",
        owner: "alice",
        queue: "default",
        status: "queued",
        failed: false,
        progress: 0,
        payload: { n: 1 },
        result: null,
        log: null,
        attempts: 0,
        reservedAt: null,
        scheduleId: null,
        startedAt: null,
        finishedAt: null,
      });
      for (const key of ["id", "maxAttempts", "createdAt", "updatedAt"]) expect(task).toHaveProperty(key);
      expect(new Date(task.createdAt).toISOString()).toBe(task.createdAt);
    });

    it("reserves when runAt is given, and refuses a time within the lead with the field named", async () => {
      const { alice, file } = setup({ lead: 30 });
      const runAt = new Date(Date.now() + 60_000).toISOString();
      const reserved = await alice.post("/api/tasks", { task: "echo", description: "later", runAt });
      expect(reserved.status).toBe(201);
      expect(await reserved.json()).toMatchObject({ status: "reserved", queue: "high", reservedAt: runAt });

      const before = await ledgerCounts(file);
      const soon = await alice.post("/api/tasks", {
        task: "echo",
        description: "too soon",
        runAt: new Date(Date.now() + 5_000).toISOString(),
      });
      expect(soon.status).toBe(400);
      const body = await soon.json();
      expect(body.error).toMatchObject({ code: "invalid_input", field: "runAt" });
      expect(body.error.message).toMatch(/at least 30 seconds/);
      expect(await ledgerCounts(file)).toEqual(before);
    });

    it("maps bad input to 400/413/415 with the error shape, writing nothing", async () => {
      const { alice, file } = setup();
      const cases: [unknown, number, Record<string, unknown>][] = [
        [{ task: "echo" }, 400, { code: "invalid_input", field: "description" }],
        [{ task: "nope", description: "x" }, 400, { code: "unknown_task", field: "task" }],
        [{ description: "x" }, 400, { code: "invalid_input", field: "task" }],
        [
          { task: "echo", description: "x", payload: { big: "y".repeat(20_000) } },
          413,
          { code: "payload_too_large" },
        ],
        [
          { task: "echo", description: "x", queue: "bad queue!" },
          400,
          { code: "invalid_input", field: "queue" },
        ],
        [
          { task: "echo", description: "x", runAt: "tomorrow-ish" },
          400,
          { code: "invalid_input", field: "runAt" },
        ],
      ];
      for (const [body, status, error] of cases) {
        const response = await alice.post("/api/tasks", body);
        expect(response.status, JSON.stringify(body).slice(0, 60)).toBe(status);
        expect((await response.json()).error).toMatchObject(error);
      }
      const notJson = await alice.post("/api/tasks", undefined, { "content-type": "text/plain" });
      expect(notJson.status).toBe(415);
      const broken = await clientFor(setup().api, "alice").post("/api/tasks");
      expect(broken.status).toBe(400);
      expect((await ledgerCounts(file)).tasks).toBe(0);
    });

    it("lists the caller's tasks newest first, clamps limit to 200 and pages with a cursor", async () => {
      const { tl, alice } = setup();
      await tl.tasks.enqueueMany(
        Array.from({ length: 230 }, (_, i) => ({
          task: "echo",
          payload: i,
          options: { description: `t${i}`, owner: "alice" },
        })),
      );
      await tl.tasks.enqueue("echo", "b", { description: "bob's", owner: "bob" });
      const first = await (await alice.get("/api/tasks?limit=500")).json();
      expect(first.tasks).toHaveLength(200);
      expect(first.tasks[0].payload).toBe(229);
      expect(first.tasks.every((t: { owner: string }) => t.owner === "alice")).toBe(true);
      const second = await (await alice.get(`/api/tasks?limit=500&cursor=${first.nextCursor}`)).json();
      expect(second.tasks).toHaveLength(30);
      expect(second.nextCursor).toBeNull();
      const ids = new Set([...first.tasks, ...second.tasks].map((t: { id: number }) => t.id));
      expect(ids.size).toBe(230);

      const filtered = await (await alice.get("/api/tasks?status=queued&name=echo&limit=3")).json();
      expect(filtered.tasks).toHaveLength(3);
      const bad = await alice.get("/api/tasks?status=done");
      expect(bad.status).toBe(400);
      expect((await bad.json()).error).toMatchObject({ field: "status" });
      expect((await alice.get("/api/tasks?limit=0")).status).toBe(400);
      expect((await alice.get("/api/tasks?cursor=abc")).status).toBe(400);
    });

    it("isolates users: another user's task is 404 to read and to cancel, and nothing changes; an admin sees all", async () => {
      const { tl, alice, bob, root } = setup();
      const task = await tl.tasks.enqueue("echo", "secret", { description: "alice only", owner: "alice" });
      const forBob = await bob.get(`/api/tasks/${task.id}`);
      expect(forBob.status).toBe(404);
      expect((await forBob.json()).error.code).toBe("not_found");
      expect((await bob.post(`/api/tasks/${task.id}/cancel`)).status).toBe(404);
      expect((await tl.tasks.get(task.id))?.status).toBe("queued");
      expect((await (await bob.get("/api/tasks")).json()).tasks).toEqual([]);
      expect((await (await bob.get("/api/notifications")).json()).notifications).toEqual([]);
      // a user cannot widen their scope with ?owner=
      expect((await (await bob.get("/api/tasks?owner=alice")).json()).tasks).toEqual([]);

      expect((await alice.get(`/api/tasks/${task.id}`)).status).toBe(200);
      expect((await root.get(`/api/tasks/${task.id}`)).status).toBe(200);
      expect((await (await root.get("/api/tasks?owner=alice")).json()).tasks).toHaveLength(1);
      expect((await (await root.get("/api/tasks?owner=bob")).json()).tasks).toHaveLength(0);
      expect((await alice.get("/api/tasks/abc")).status).toBe(404);
      expect((await alice.get(`/api/tasks/${task.id + 1000}`)).status).toBe(404);
    });

    it("cancels: 200 with the canceled Task, then 409 with the reason", async () => {
      const { tl, alice } = setup();
      const task = await tl.tasks.enqueue("echo", 1, { description: "x", owner: "alice" });
      const first = await alice.post(`/api/tasks/${task.id}/cancel`);
      expect(first.status).toBe(200);
      expect(await first.json()).toMatchObject({ id: task.id, status: "canceled", failed: true });
      const again = await alice.post(`/api/tasks/${task.id}/cancel`);
      expect(again.status).toBe(409);
      const body = await again.json();
      expect(body.error).toEqual({ code: "conflict", message: `task ${task.id} is already canceled` });
      expect(body.task.status).toBe("canceled");
    });

    it("refuses cross-site state changes (Sec-Fetch-Site, Origin) with 403 and changes nothing", async () => {
      const { tl, api, alice } = setup();
      const task = await tl.tasks.enqueue("echo", 1, { description: "x", owner: "alice" });
      const cancelWith = (headers: Record<string, string>) =>
        api(
          new Request(`http://app.test/api/tasks/${task.id}/cancel`, {
            method: "POST",
            headers: { "x-test-user": "alice", ...headers },
          }),
        );
      const attempts: Record<string, string>[] = [
        { "sec-fetch-site": "cross-site" },
        { "sec-fetch-site": "same-site" },
        { origin: "https://evil.test" },
        { origin: "null" },
        { "sec-fetch-site": "cross-site", origin: "http://app.test" },
      ];
      for (const headers of attempts) {
        const response = await cancelWith(headers);
        expect(response.status, JSON.stringify(headers)).toBe(403);
        expect((await response.json()).error.code).toBe("forbidden");
      }
      const created = await alice.post(
        "/api/tasks",
        { task: "echo", description: "x" },
        { "sec-fetch-site": "cross-site" },
      );
      expect(created.status).toBe(403);
      expect((await tl.tasks.list({})).map((t) => t.status)).toEqual(["queued"]);
      // the same origin (or a non-browser client, which sends neither header) may
      expect((await cancelWith({ origin: "http://app.test" })).status).toBe(200);
      expect((await cancelWith({})).status).toBe(409);
    });

    it("reports status: queue counts for the caller, workers for admins", async () => {
      const { tl, alice, root } = setup();
      await tl.tasks.enqueue("echo", 1, { description: "x", owner: "alice" });
      await tl.tasks.enqueue("echo", 1, { description: "x", owner: "bob" });
      const mine = await (await alice.get("/api/status")).json();
      expect(mine.queues.default.queued).toBe(1);
      expect(mine.workers).toBeUndefined();
      const all = await (await root.get("/api/status")).json();
      expect(all.queues.default.queued).toBe(2);
      expect(all.workers).toEqual([]);
    });

    it("tells failed from finished and canceled: in ?status= and in the status counts", async () => {
      const { tl, alice, root } = setup();
      const ids = await oneOfEachEnd(tl, "alice");
      const listed = async (query: string) =>
        (await (await alice.get(`/api/tasks?${query}`)).json()).tasks.map((t: { id: number }) => t.id);
      expect(await listed("status=failed")).toEqual([ids.failed]);
      expect(await listed("status=finished")).toEqual([ids.finished]);
      expect(await listed("status=canceled")).toEqual([ids.canceled]);
      expect(await listed("status=finished,failed")).toEqual([ids.failed, ids.finished]);
      const bad = await alice.get("/api/tasks?status=done");
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.message).toContain(
        "reserved, queued, running, finished, failed, canceled",
      );

      const status = await (await root.get("/api/status")).json();
      expect(status.queues.default).toEqual({
        reserved: 0,
        queued: 0,
        running: 0,
        finished: 1,
        failed: 1,
        canceled: 1,
      });
      expect(status.counts).toEqual([
        { queue: "default", status: "finished", count: 1 },
        { queue: "default", status: "failed", count: 1 },
        { queue: "default", status: "canceled", count: 1 },
      ]);
    });

    it("answers 405 for a wrong method and 404 outside its routes", async () => {
      const { alice } = setup();
      const wrong = await alice.post("/api/status");
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get("allow")).toBe("GET");
      expect((await alice.get("/api/nothing")).status).toBe(404);
    });
  });

  describe("GET /api/events", () => {
    it("streams the caller's notifications live, and only theirs", async () => {
      const { tl, alice, bob } = setup();
      const worker = tl.createWorker({ concurrency: 2 });
      await worker.start();
      const aliceEvents = readEvents(await alice.get("/api/events"));
      const bobEvents = readEvents(await bob.get("/api/events"));
      const mine = await tl.tasks.enqueue("steps", null, { description: "alice's", owner: "alice" });
      const theirs = await tl.tasks.enqueue("steps", null, { description: "bob's", owner: "bob" });
      await waitFor(() => aliceEvents.events.some((e) => e.data.data.progress === 75), {
        message: "alice's 75",
      });
      hold(mine.id).open(undefined);
      await waitFor(() => aliceEvents.events.some((e) => e.data.name === "task_finished"), {
        message: "finished",
      });
      await waitFor(() => bobEvents.events.some((e) => e.data.data.progress === 75), { message: "bob's 75" });
      hold(theirs.id).open(undefined);

      expect(aliceEvents.events.map((e) => e.data.data.progress).filter((p) => p !== undefined)).toEqual([
        0, 25, 50, 75, 100,
      ]);
      expect(aliceEvents.events.every((e) => e.data.owner === "alice" && e.data.taskId === mine.id)).toBe(
        true,
      );
      expect(bobEvents.events.every((e) => e.data.owner === "bob")).toBe(true);
      const ids = aliceEvents.events.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      await aliceEvents.close();
      await bobEvents.close();
      await worker.stop();
    });

    it("resumes after Last-Event-ID without losing or repeating a notification", async () => {
      const { tl, alice } = setup();
      const task = await tl.tasks.enqueue("echo", 1, { description: "x", owner: "alice" });
      const first = readEvents(await alice.get("/api/events?after=0"));
      await tl.tasks.reserve(Date.now() + 60_000, "echo", 2, { description: "y", owner: "alice" });
      await waitFor(() => first.events.length >= 1, { message: "reserve notification" });
      await first.close();
      // written while the client was away
      await tl.tasks.cancel(task.id, { owner: "alice" });
      const all = await tl.notifications.after("alice", 0);
      expect(all.length).toBe(3);
      const resumed = readEvents(
        await alice.get("/api/events?after=0", { "last-event-id": String(first.events.at(-1)!.id) }),
      );
      await waitFor(() => resumed.events.length >= 2, { message: "missed notifications" });
      expect([...first.events, ...resumed.events].map((e) => e.id)).toEqual(all.map((n) => n.id));
      await resumed.close();
      const bad = await alice.get("/api/events", { "last-event-id": "x" });
      expect(bad.status).toBe(400);
    });

    // Across processes on a server ledger: see the live-updates tests of the notifiers.
    if (dialect.name === "sqlite")
      it("delivers notifications written by another process, woken by the database file (no polling)", async () => {
        const { alice, url } = setup({ pollIntervalMs: 600_000 });
        const stream = readEvents(await alice.get("/api/events"));
        const child = await execFileAsync(process.execPath, [RESERVE_FIXTURE, url, "alice"], {
          encoding: "utf8",
        });
        const { id } = JSON.parse(child.stdout);
        await waitFor(
          () => stream.events.some((e) => e.data.name === "task_reserve" && e.data.taskId === id),
          {
            message: "event from the other process",
          },
        );
        await stream.close();
      });

    it("ends open streams on close()", async () => {
      const { api, alice } = setup();
      const stream = readEvents(await alice.get("/api/events"));
      api.close();
      await waitFor(() => stream.ended, { message: "stream end" });
    });
  });
});
