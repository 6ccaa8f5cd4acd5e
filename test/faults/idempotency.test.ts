import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpHandler, type HttpHandler } from "../../src/http/index.js";
import { defineTask, type TaskledgerError } from "../../src/index.js";
import { json, run } from "../cli/cli.js";
import { openLedger } from "../flow/fixture.js";
import { tableCounts, tempDatabase, tempDir } from "../helpers/index.js";
import { clientFor, testAuthenticate } from "../http/client.js";
import { startFixtureProcess, untilEvent } from "./processes.js";

/**
 * An idempotency key makes a repeated request — a retry after a lost answer, a double click, a
 * second process — return the task the first one recorded, and write nothing more: however many
 * ask at once, in one process or several. Keys are per owner.
 */
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });
const other = defineTask({ name: "other", run: (payload: unknown) => payload });

const handlers: HttpHandler[] = [];
afterEach(() => {
  for (const handler of handlers.splice(0)) handler.close();
});

function setup() {
  const fixture = openLedger({ tasks: [echo, other], reservationLeadSeconds: 30 });
  const api = createHttpHandler(fixture.tl, { authenticate: testAuthenticate });
  handlers.push(api);
  return { ...fixture, alice: clientFor(api, "alice") };
}

const tasksIn = (file: string) => tableCounts(file).tasks;

async function refusal(promise: Promise<unknown>): Promise<TaskledgerError> {
  return promise.then(
    () => expect.fail("expected a refusal"),
    (error: TaskledgerError) => error,
  );
}

describe("POST /api/tasks with an Idempotency-Key", () => {
  it("100 concurrent requests with one key make one task: one 201, ninety-nine 200 replays of it", async () => {
    const { alice, file } = setup();
    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        alice.post(
          "/api/tasks",
          { task: "echo", payload: { order: 42 }, description: "charge order 42" },
          { "idempotency-key": "order-42" },
        ),
      ),
    );
    const bodies = await Promise.all(responses.map((response) => response.json()));
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(99);
    for (const response of responses) {
      expect(response.headers.get("idempotent-replayed")).toBe(response.status === 200 ? "true" : null);
    }
    expect(new Set(bodies.map((body) => body.id)).size).toBe(1);
    expect(bodies[0]).toMatchObject({ owner: "alice", idempotencyKey: "order-42", payload: { order: 42 } });
    expect(tasksIn(file)).toBe(1);

    // Later, the same key still names that task; another key is another task.
    const replay = await alice.post(
      "/api/tasks",
      { task: "echo", payload: { order: 42 }, description: "charge order 42" },
      { "idempotency-key": "order-42" },
    );
    expect(replay.status).toBe(200);
    expect((await replay.json()).id).toBe(bodies[0].id);
    const fresh = await alice.post(
      "/api/tasks",
      { task: "echo", payload: { order: 42 }, description: "charge order 42" },
      { "idempotency-key": "order-43" },
    );
    expect(fresh.status).toBe(201);
    expect(tasksIn(file)).toBe(2);
  });

  it("the same key with another payload, task or run time is refused with 409 and writes nothing", async () => {
    const { alice, file } = setup();
    const body = { task: "echo", payload: { order: 42 }, description: "charge order 42" };
    const key = { "idempotency-key": "order-42" };
    expect((await alice.post("/api/tasks", body, key)).status).toBe(201);
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    for (const changed of [
      { ...body, payload: { order: 43 } },
      { ...body, task: "other" },
      { ...body, runAt },
    ]) {
      const response = await alice.post("/api/tasks", changed, key);
      expect(response.status, JSON.stringify(changed)).toBe(409);
      expect(await response.json()).toMatchObject({ error: { code: "conflict", field: "idempotencyKey" } });
    }
    expect(tableCounts(file)).toMatchObject({ tasks: 1, notifications: 0 });
  });

  it("an empty or over-long key is refused with 400 before anything is written", async () => {
    const { alice, file } = setup();
    const body = { task: "echo", payload: null, description: "bad key" };
    for (const value of ["", "k".repeat(256)]) {
      const response = await alice.post("/api/tasks", body, { "idempotency-key": value });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        error: { code: "invalid_input", field: "idempotencyKey" },
      });
    }
    expect(tasksIn(file)).toBe(0);
  });
});

describe("the library's idempotencyKey", () => {
  it("concurrent enqueues with one key get one task: together in one group commit, and against the written row", async () => {
    const { tl, file } = openLedger({ tasks: [echo] });
    await tl.migrate();
    // Owner-less: the unique index treats null owners as distinct, so the check alone stands guard.
    const options = { description: "once", idempotencyKey: "k" };
    const keyed = () => tl.tasks.enqueueResult(echo, { n: 1 }, options);
    // The first enqueue takes the first commit; the keyed ones arrive while it writes and share the next.
    const [, ...together] = await Promise.all([
      tl.tasks.enqueue(echo, 0, { description: "opens the group" }),
      ...Array.from({ length: 20 }, keyed),
    ]);
    expect(new Set(together.map((r) => r.task.id)).size).toBe(1);
    expect(together.filter((r) => r.created)).toHaveLength(1);
    expect(tasksIn(file)).toBe(2);

    const later = await Promise.all(Array.from({ length: 20 }, keyed));
    expect(later.map((r) => [r.task.id, r.created])).toEqual(later.map(() => [together[0]!.task.id, false]));
    expect(await tl.tasks.enqueue(echo, { n: 1 }, options)).toMatchObject({
      id: together[0]!.task.id,
      idempotencyKey: "k",
    });

    // Two items of one enqueueMany with one key are one task too.
    const item = { task: echo, payload: { n: 2 }, options: { description: "twice", idempotencyKey: "k2" } };
    const [a, b] = await tl.tasks.enqueueMany([item, item]);
    expect(a!.id).toBe(b!.id);
    expect(tasksIn(file)).toBe(3);
  });

  it("keys are per owner: alice's, bob's and an owner-less task's key k are three tasks", async () => {
    const { tl, file } = openLedger({ tasks: [echo] });
    const enqueueAs = (owner: string | null) =>
      tl.tasks.enqueue(echo, "same", { description: "per owner", owner, idempotencyKey: "k" });
    const first = await Promise.all(["alice", "bob", null].map(enqueueAs));
    const again = await Promise.all(["alice", "bob", null].map(enqueueAs));
    expect(new Set(first.map((t) => t.id)).size).toBe(3);
    expect(again.map((t) => t.id)).toEqual(first.map((t) => t.id));
    expect(first.map((t) => t.owner)).toEqual(["alice", "bob", null]);
    expect(tasksIn(file)).toBe(3);
  });

  it("the same key for another task, payload, kind or reservation time is a conflict, and nothing is written", async () => {
    const { tl, file } = openLedger({ tasks: [echo, other], reservationLeadSeconds: 30 });
    const at = new Date(Date.now() + 3_600_000);
    const options = { description: "keyed", owner: "alice", idempotencyKey: "k" };
    const reserved = await tl.tasks.reserve(at, echo, { n: 1 }, options);
    const attempts: [string, () => Promise<unknown>][] = [
      ["another payload", () => tl.tasks.reserve(at, echo, { n: 2 }, options)],
      ["another task", () => tl.tasks.reserve(at, other, { n: 1 }, options)],
      ["an enqueue", () => tl.tasks.enqueue(echo, { n: 1 }, options)],
      ["another time", () => tl.tasks.reserve(new Date(at.getTime() + 1_000), echo, { n: 1 }, options)],
    ];
    for (const [what, attempt] of attempts) {
      const error = await refusal(attempt());
      expect({ what, code: error.code, field: error.field }).toEqual({
        what,
        code: "conflict",
        field: "idempotencyKey",
      });
      expect(error.message).toContain(`task #${reserved.id}`);
    }
    // The same reservation again is the same task, with no second task_reserve notification.
    expect((await tl.tasks.reserveResult(at, echo, { n: 1 }, options)).created).toBe(false);
    expect(tableCounts(file)).toMatchObject({ tasks: 1, notifications: 1 });

    // Within one group commit, and within one enqueueMany, the first request wins.
    const racing = await Promise.allSettled([
      tl.tasks.enqueue(echo, 0, { description: "opens the group" }),
      tl.tasks.enqueue(echo, "first", { description: "race", idempotencyKey: "r" }),
      tl.tasks.enqueue(echo, "second", { description: "race", idempotencyKey: "r" }),
    ]);
    expect(racing.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    expect(((racing[2] as PromiseRejectedResult).reason as TaskledgerError).code).toBe("conflict");
    const many = tl.tasks.enqueueMany([
      { task: echo, payload: 1, options: { description: "many", idempotencyKey: "m" } },
      { task: echo, payload: 2, options: { description: "many", idempotencyKey: "m" } },
    ]);
    expect(await refusal(many)).toMatchObject({ code: "conflict", field: "idempotencyKey" });
    expect(tasksIn(file)).toBe(3);
  });

  it("a key must be a non-empty string of at most 255 characters", async () => {
    const { tl, file } = openLedger({ tasks: [echo] });
    for (const idempotencyKey of ["", "k".repeat(256), 42]) {
      const error = await refusal(
        tl.tasks.enqueue(echo, null, { description: "bad key", idempotencyKey: idempotencyKey as string }),
      );
      expect(error).toMatchObject({ code: "invalid_input", field: "idempotencyKey" });
    }
    await tl.tasks.enqueue(echo, null, { description: "longest key", idempotencyKey: "k".repeat(255) });
    expect(tasksIn(file)).toBe(1);
  });
});

describe("one key across processes", () => {
  it("two processes enqueueing 50 times each with one key on one file make one task", async () => {
    const { url, file, dir } = tempDatabase();
    const { tl } = openLedger({ tasks: [echo], url });
    await tl.migrate();
    const gate = join(dir, "go");
    const procs = [1, 2].map(() =>
      startFixtureProcess("enqueue.mjs", {
        TL_DATABASE: url,
        TL_GATE: gate,
        TL_KEY: "nightly",
        TL_COUNT: "50",
      }),
    );
    for (const proc of procs) await untilEvent(proc, "ready");
    writeFileSync(gate, "");
    const done = await Promise.all(procs.map((proc) => untilEvent(proc, "done")));
    const ids = done.flatMap((event) => event.ids as number[]);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(1);
    expect(tasksIn(file)).toBe(1);
  });
});

describe("taskledger enqueue --idempotency-key", () => {
  it("run twice makes one task; the second run says it is the existing one", async () => {
    const dir = tempDir("tl-cli-");
    const file = join(dir, "ledger.db");
    const cli = (...args: string[]) => run(args, { cwd: dir, database: `sqlite:${file}` });
    const args = ["enqueue", "count_words", "--description", "count", "--payload", '"a b"'];

    const first = await cli(...args, "--idempotency-key", "words-1");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`ledger: ${file}\nQueued task #1 count_words (queue default)\n`);
    const second = await cli(...args, "--idempotency-key", "words-1");
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(
      `ledger: ${file}\nTask #1 count_words queued (queue default) (existing task, same idempotency key)\n`,
    );
    const asJson = await cli(...args, "--idempotency-key", "words-1", "--json");
    expect(json(asJson)).toMatchObject({ id: 1, idempotencyKey: "words-1" });
    expect(tableCounts(file).tasks).toBe(1);

    const conflict = await cli(
      "enqueue",
      "count_words",
      "--description",
      "count",
      "--idempotency-key",
      "words-1",
    );
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('idempotencyKey: "words-1" already names task #1');
    expect(tableCounts(file).tasks).toBe(1);

    const help = await cli("enqueue", "--help");
    expect(help.stdout).toContain("--idempotency-key K");
  });
});
