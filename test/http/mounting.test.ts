import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { createDashboardHandler } from "../../src/dashboard/index.js";
import { createHttpHandler, type RunningServer, serve, toNodeHandler } from "../../src/http/index.js";
import { defineTask } from "../../src/index.js";
import { openLedger } from "../flow/fixture.js";
import { testAuthenticate } from "./client.js";

/** The handlers behind real sockets: node:http (`serve`), Express and Fastify, as docs/web.md shows. */
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Reads SSE events from a real connection until `count` arrived. */
async function readEvents(url: string, headers: Record<string, string>, count: number) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: { id: number; data: any }[] = [];
  let buffer = "";
  return {
    response,
    events,
    async until(n = count) {
      while (events.length < n) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (id && data) events.push({ id: Number(id), data: JSON.parse(data) });
        }
      }
      return events;
    },
    close: () => controller.abort(),
  };
}

describe("serve() and toNodeHandler()", () => {
  it("serves the API over HTTP: JSON, streamed event resumption, body limits, HEAD", async () => {
    const { tl } = openLedger({ tasks: [echo] });
    const api = createHttpHandler(tl, { authenticate: testAuthenticate, maxBodyBytes: 1_000 });
    const server: RunningServer = await serve(api, { port: 0 });
    cleanups.push(() => server.close());
    const alice = { "x-test-user": "alice" };

    const created = await fetch(`${server.url}/api/tasks`, {
      method: "POST",
      headers: { ...alice, "content-type": "application/json" },
      body: JSON.stringify({ task: "echo", description: "over http", payload: [1, 2] }),
    });
    expect(created.status).toBe(201);
    const task = await created.json();

    const stream = await readEvents(`${server.url}/api/events?after=0`, alice, 0);
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    await tl.tasks.cancel(task.id);
    const first = await stream.until(2);
    stream.close();
    await tl.tasks.reserve(Date.now() + 60_000, echo, null, { description: "while away", owner: "alice" });
    const resumed = await readEvents(
      `${server.url}/api/events`,
      { ...alice, "last-event-id": String(first[1]!.id) },
      1,
    );
    const [missed] = await resumed.until();
    expect(missed!.data).toMatchObject({ name: "task_reserve", owner: "alice" });
    expect(missed!.id).toBeGreaterThan(first[1]!.id);
    resumed.close();

    // A body past the limit is refused while it streams in, without a Content-Length to go by.
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode(`"${"x".repeat(400)}",`));
        controller.close();
      },
    });
    const tooBig = await fetch(`${server.url}/api/tasks`, {
      method: "POST",
      headers: { ...alice, "content-type": "application/json" },
      body: chunks,
      duplex: "half",
    } as RequestInit);
    expect(tooBig.status).toBe(413);

    const head = await fetch(`${server.url}/api/tasks`, { method: "HEAD", headers: alice });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("passes paths it does not know to next(), as middleware does", async () => {
    const { tl } = openLedger({ tasks: [echo] });
    const handle = toNodeHandler(
      createHttpHandler(tl, { authenticate: testAuthenticate, basePath: "/jobs" }),
    );
    const url = await listen(
      createServer((req, res) =>
        handle(req, res, () => {
          res.writeHead(299, { "content-type": "text/plain" }).end("host app");
        }),
      ),
    );
    expect((await fetch(`${url}/jobs/api/health`)).status).toBe(200);
    expect((await fetch(`${url}/elsewhere`)).status).toBe(299);
    expect((await fetch(`${url}/jobs/api/unknown`)).status).toBe(299);
    expect((await fetch(`${url}/jobs/api/tasks`)).status).toBe(401);
  });
});

describe("mounted in a host app", () => {
  it("Express: the dashboard and API under /taskledger, beside the app's own routes and body parser", async () => {
    const { tl } = openLedger({ tasks: [echo] });
    const app = express();
    app.use(
      "/taskledger",
      toNodeHandler(createDashboardHandler(tl, { authenticate: testAuthenticate, basePath: "/taskledger" })),
    );
    app.use(express.json());
    app.post("/echo", (req, res) => {
      res.json({ body: req.body });
    });
    const url = await listen(createServer(app));

    expect(
      await (
        await fetch(`${url}/echo`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"a":1}',
        })
      ).json(),
    ).toEqual({
      body: { a: 1 },
    });
    const created = await fetch(`${url}/taskledger/api/tasks`, {
      method: "POST",
      headers: { "x-test-user": "alice", "content-type": "application/json" },
      body: JSON.stringify({ task: "echo", description: "from express", payload: 1 }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toMatch(/^\/taskledger\/api\/tasks\/\d+$/);
    const page = await fetch(`${url}/taskledger/`, { headers: { "x-test-user": "alice" } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("from express");
    expect(html).toContain('href="/taskledger/assets/dashboard.css"');
    expect((await fetch(`${url}/taskledger/assets/dashboard.css`)).status).toBe(200);
  });

  it("Fastify: raw request and reply handed over, with the body left unparsed", async () => {
    const { tl } = openLedger({ tasks: [echo] });
    const handle = toNodeHandler(createDashboardHandler(tl, { authenticate: testAuthenticate }));
    const app = Fastify();
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
      scope.all("/api/*", (request, reply) => {
        reply.hijack();
        handle(request.raw, reply.raw);
      });
    });
    app.get("/hello", async () => ({ hello: "fastify" }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    cleanups.push(() => app.close());
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    expect(await (await fetch(`${url}/hello`)).json()).toEqual({ hello: "fastify" });
    const created = await fetch(`${url}/api/tasks`, {
      method: "POST",
      headers: { "x-test-user": "alice", "content-type": "application/json" },
      body: JSON.stringify({ task: "echo", description: "from fastify", payload: 2 }),
    });
    expect(created.status).toBe(201);
    const stream = await readEvents(`${url}/api/events?after=0`, { "x-test-user": "alice" }, 1);
    await tl.tasks.cancel((await created.json()).id);
    const [event] = await stream.until(1);
    expect(event!.data.owner).toBe("alice");
    stream.close();
  });
});
