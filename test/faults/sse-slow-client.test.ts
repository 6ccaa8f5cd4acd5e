import type { ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpHandler, type RunningServer, serve } from "../../src/http/index.js";
import { defineTask, type Worker } from "../../src/index.js";
import { gate, openLedger, waitForTask } from "../flow/fixture.js";
import { waitFor } from "../helpers/index.js";
import { readEvents, testAuthenticate } from "../http/client.js";

/**
 * One client of the event stream stops reading, then reads a little at a time: each time its
 * socket takes more, the server writes again until the socket is full. However many times that
 * happens, the server's response must not gather listeners, and other clients get every event.
 */
const EVENTS = 400;
/** Larger than a socket's write buffer, so every write the kernel cannot take at once waits for 'drain'. */
const PAD = "x".repeat(16 * 1024);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A raw HTTP/1.1 client that sends the request and reads nothing until told to. */
function slowClient(url: string, path: string, user: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nx-test-user: ${user}\r\n\r\n`);
  let received = "";
  socket.setEncoding("latin1").on("data", (chunk: string) => {
    received += chunk;
    socket.pause();
  });
  let trickle: ReturnType<typeof setInterval> | undefined;
  cleanups.push(() => {
    clearInterval(trickle);
    socket.destroy();
  });
  return {
    /** From now on take one read's worth every few milliseconds: a reader slower than the writer. */
    readSlowly() {
      trickle = setInterval(() => socket.resume(), 5);
    },
    received: () => received,
  };
}

describe("an event-stream client that reads slowly", () => {
  it("adds no listener per event to its response, and a reading client still gets every event", async () => {
    const release = gate();
    const chatty = defineTask({
      name: "chatty",
      retry: 0,
      async run(_payload: null, ctx) {
        await release.promise;
        for (let i = 1; i <= EVENTS; i++) await ctx.setProgress(i % 100, { pad: PAD });
      },
    });
    const { tl } = openLedger({ tasks: [chatty] });
    const api = createHttpHandler(tl, { authenticate: testAuthenticate, heartbeatMs: 60_000 });
    const server: RunningServer = await serve(api, { port: 0 });
    cleanups.push(() => server.close());
    const responses: ServerResponse[] = [];
    server.server.on("request", (_request, response: ServerResponse) => responses.push(response));
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    cleanups.push(() => process.off("warning", onWarning));

    const worker: Worker = tl.createWorker();
    await worker.start();
    cleanups.push(() => worker.stop());
    const task = await tl.tasks.enqueue(chatty, null, { description: "talks a lot", owner: "alice" });
    await waitFor(async () => (await tl.tasks.get(task.id))?.status === "running", { message: "running" });

    const start = await tl.notifications.lastId();
    const slow = slowClient(server.url, "/api/events", "alice");
    await waitFor(() => responses[0], { message: "the slow client's request" });
    const response = responses[0]!;
    const reading = readEvents(
      await fetch(`${server.url}/api/events`, { headers: { "x-test-user": "alice" } }),
    );
    cleanups.push(() => reading.close());
    await waitFor(() => responses[1], { message: "the reading client's request" });

    // A listener left behind stays until the connection closes: counting at the end catches it.
    const listeners = () => ({
      response: response.listenerCount("close") + response.listenerCount("drain"),
      socket: response.socket!.eventNames().reduce((n, e) => n + response.socket!.listenerCount(e), 0),
    });
    const before = listeners();

    release.open();
    await waitForTask(tl, task.id, (t) => t.status === "finished");
    await waitFor(() => response.writableNeedDrain, { message: "the slow client's socket to fill up" });
    slow.readSlowly();
    const last = (await tl.notifications.latest("alice", 1))[0]!;
    await waitFor(() => slow.received().includes(`id: ${last.id}\n`), {
      timeoutMs: 30_000,
      message: "the slow client to read every event",
    });
    await waitFor(() => reading.events.some((e) => e.id === last.id), {
      message: "the reading client's last event",
    });

    const stored = [];
    for (let page = await tl.notifications.after("alice", start, 200); page.length > 0; ) {
      stored.push(...page);
      page = await tl.notifications.after("alice", page.at(-1)!.id, 200);
    }
    const after = listeners();
    // At most the one wait for 'drain' in progress: a listener on 'drain' and one on 'close'.
    expect(after.response).toBeLessThanOrEqual(before.response + 2);
    expect(after.socket).toBeLessThanOrEqual(before.socket + 2);
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    expect(reading.events.map((e) => e.id)).toEqual(stored.map((n) => n.id));
    expect(stored.filter((n) => n.name === "task_progress").length).toBeGreaterThanOrEqual(EVENTS);
  });
});
