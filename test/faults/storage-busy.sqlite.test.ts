import { afterEach, describe, expect, it } from "vitest";
import { createHttpHandler, type RunningServer, serve } from "../../src/http/index.js";
import { createTaskledger, defineTask, openDatabase, type Taskledger } from "../../src/index.js";
import { tableCounts, tempDatabase } from "../helpers/index.js";
import { testAuthenticate } from "../http/client.js";
import { holdWriteLock } from "./processes.js";

let tl: Taskledger | undefined;
let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  await tl?.close();
  server = undefined;
  tl = undefined;
});

const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });

async function start(busyTimeoutMs: number) {
  const { url, file } = tempDatabase();
  tl = createTaskledger({ database: openDatabase(url, { busyTimeoutMs }), tasks: [echo] });
  await tl.migrate();
  server = await serve(createHttpHandler(tl, { authenticate: testAuthenticate }), { port: 0 });
  const base = server.url;
  const post = () =>
    fetch(`${base}/api/tasks`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-test-user": "alice",
        "sec-fetch-site": "same-origin",
      },
      body: JSON.stringify({ task: "echo", payload: 1, description: "while locked" }),
    });
  return { file, base, post };
}

/** Poll /api/health until `done` settles; returns the slowest answer, ms. */
async function slowestHealth(base: string, done: Promise<unknown>): Promise<number> {
  let settled = false;
  void done.finally(() => {
    settled = true;
  });
  let slowest = 0;
  let answers = 0;
  while (!settled) {
    const started = performance.now();
    const response = await fetch(`${base}/api/health`);
    expect(response.status).toBe(200);
    await response.body?.cancel();
    slowest = Math.max(slowest, performance.now() - started);
    answers++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(answers).toBeGreaterThan(5);
  return slowest;
}

describe("another process holds the ledger's write lock", () => {
  it("past the busy timeout: 503 with Retry-After and nothing written, while /api/health keeps answering", async () => {
    const { file, base, post } = await start(1_500);
    const before = tableCounts(file);
    const lock = await holdWriteLock(file, 3_000);

    const refused = post();
    const library = tl!.tasks
      .enqueue(echo, 2, { description: "library, while locked" })
      .catch((error) => error);
    const slowest = await slowestHealth(base, refused);
    const response = await refused;
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("2");
    expect(await response.json()).toMatchObject({
      error: { code: "unavailable", message: expect.stringContaining("the ledger is locked") },
    });
    expect(slowest).toBeLessThan(250);
    expect(await library).toMatchObject({
      name: "TaskledgerError",
      code: "unavailable",
    });

    await lock.released;
    expect(tableCounts(file)).toEqual(before);
  });

  it("for less than the busy timeout: the write waits without blocking the process, then succeeds", async () => {
    const { file, base, post } = await start(10_000);
    const lock = await holdWriteLock(file, 1_000);
    const accepted = post();
    const slowest = await slowestHealth(base, accepted);
    expect((await accepted).status).toBe(201);
    expect(slowest).toBeLessThan(250);
    await lock.released;
    expect(tableCounts(file).tasks).toBe(1);
  });
});
