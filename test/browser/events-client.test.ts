/// <reference lib="dom" />
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpHandler, type RunningServer, readCookies, serve } from "../../src/http/index.js";
import { defineTask, type Taskledger, type Worker } from "../../src/index.js";
import { type Gate, gate, openLedger, waitForTask } from "../flow/fixture.js";
import { waitFor } from "../helpers/index.js";
import { launchBrowser, MISSING, needsChromium, STRICT } from "./chromium.js";

/**
 * The browser client for `/api/events` (dist/browser/events.js, `taskledger/events`) in a page in
 * real Chromium: live progress as a worker reports it, and resumption when the server restarts —
 * the stream ends, the server is down a while, then answers its first request with an error so the
 * browser gives up: the client reconnects from the last event it got, and every event arrives
 * exactly once, in order.
 */
const CLIENT = readFileSync(resolve("dist/browser/events.js"), "utf8");

const steps: Gate[] = [];
const stepper = defineTask({
  name: "stepper",
  retry: 0,
  async run(_payload: null, ctx) {
    for (const progress of [25, 50, 75]) {
      const step = gate();
      steps.push(step);
      await step.promise;
      await ctx.setProgress(progress);
    }
    return { steps: 3 };
  },
});

function page(after: number): string {
  return `<!doctype html><html><body data-after="${after}">
<progress max="100" value="0"></progress><output id="status"></output>
<script type="module">
import { subscribe } from "/events.js";
window.seen = [];
window.states = [];
window.updates = [];
subscribe("/api/events", {
  after: Number(document.body.dataset.after),
  retryMs: 100,
  onNotification: (event) => window.seen.push(event.id),
  onTask: (update) => {
    window.updates.push({ status: update.status, progress: update.progress, ended: update.ended });
    if (update.progress !== undefined) document.querySelector("progress").value = update.progress;
    document.querySelector("#status").textContent = update.status;
  },
  onState: (state) => window.states.push(state),
});
</script></body></html>`;
}

let tl: Taskledger;
let worker: Worker;
let browser: Browser;
let server: RunningServer;
/** The event-stream requests the server saw: the `after` query and the Last-Event-ID header. */
const streams: { after: string | null; lastEventId: string | null; status: number }[] = [];
let refuseNextStream = false;

function handler(api: ReturnType<typeof createHttpHandler>) {
  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === "/") {
      const after = await tl.notifications.lastId();
      return new Response(page(after), { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (url.pathname === "/events.js") {
      return new Response(CLIENT, { headers: { "content-type": "text/javascript; charset=utf-8" } });
    }
    if (url.pathname === "/api/events") {
      const seen = {
        after: url.searchParams.get("after"),
        lastEventId: request.headers.get("last-event-id"),
        status: 200,
      };
      streams.push(seen);
      if (refuseNextStream) {
        refuseNextStream = false;
        seen.status = 503;
        return new Response("restarting", { status: 503 });
      }
    }
    return api(request);
  };
  return Object.assign(handle, { close: () => api.close() }); // serve().close() ends the streams with it
}

const authenticate = (request: Request) => {
  const user = readCookies(request).get("user");
  return user ? { user, admin: false } : null;
};

async function listen(port = 0): Promise<RunningServer> {
  return serve(handler(createHttpHandler(tl, { authenticate, heartbeatMs: 60_000 })), { port });
}

beforeAll(async () => {
  if (MISSING && !STRICT) return;
  ({ tl } = openLedger({ tasks: [stepper] }));
  worker = tl.createWorker({ concurrency: 1 });
  await worker.start();
  server = await listen();
  browser = await launchBrowser();
});

afterAll(async () => {
  for (const step of steps) step.open();
  await browser?.close();
  await server?.close();
  await worker?.stop();
});

const read = (p: Page) =>
  p.evaluate(() => {
    const w = window as unknown as { seen: number[]; states: string[]; updates: unknown[] };
    return {
      seen: [...w.seen],
      states: [...w.states],
      updates: [...w.updates],
      progress: (document.querySelector("progress") as HTMLProgressElement).value,
      status: document.querySelector("#status")!.textContent,
    };
  });

describe("taskledger/events in Chromium", () => {
  it("shows live progress, and resumes after the server restarts the stream: every event once, in order", async (ctx) => {
    needsChromium(ctx);
    const context = await browser.newContext();
    await context.addCookies([{ name: "user", value: "alice", url: server.url }]);
    const p = await context.newPage();
    const errors: string[] = [];
    p.on("pageerror", (error) => errors.push(String(error)));
    const after = await tl.notifications.lastId();
    await p.goto(`${server.url}/`);
    await waitFor(async () => (await read(p)).states.includes("live"), { message: "the stream to open" });

    const task = await tl.tasks.enqueue(stepper, null, { description: "three steps", owner: "alice" });
    await waitForTask(tl, task.id, (t) => t.status === "running");
    await waitFor(() => steps.length === 1, { message: "the first step" });
    steps[0]!.open();
    await waitFor(async () => (await read(p)).progress === 25, { message: "25 % on the page" });
    expect((await read(p)).status).toBe("running");

    // The server goes away: its streams end, and progress goes on while it is down.
    const port = server.port;
    await server.close();
    await waitFor(async () => (await read(p)).states.at(-1) === "reconnecting", {
      message: "the page to see the stream drop",
    });
    await waitFor(() => steps.length === 2, { message: "the second step" });
    steps[1]!.open();
    await waitFor(() => steps.length === 3, { message: "the third step" });
    steps[2]!.open();
    await waitForTask(tl, task.id, (t) => t.status === "finished");

    // Back, answering the first stream request with an error: the browser gives up on it, and the
    // client opens a new stream after the last event it received.
    const before = (await read(p)).seen;
    refuseNextStream = true;
    const refusedAt = streams.length;
    server = await listen(port);
    await waitFor(async () => (await read(p)).status === "finished", {
      timeoutMs: 20_000,
      message: "the page to catch up to the end",
    });

    const shown = await read(p);
    const expected = (await tl.notifications.after("alice", after, 100)).map((n) => n.id);
    expect(shown.seen).toEqual(expected);
    expect(shown.progress).toBe(100);
    expect(shown.updates.at(-1)).toEqual({ status: "finished", progress: undefined, ended: true });
    const resumed = streams.slice(refusedAt).filter((s) => s.status === 200);
    expect(streams[refusedAt]).toMatchObject({ status: 503 });
    expect(resumed[0]).toMatchObject({ after: String(before.at(-1)) });
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});
