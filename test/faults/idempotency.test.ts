import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defineTask, type TaskledgerError } from "../../src/index.js";
import { openLedger } from "../flow/fixture.js";
import { tableCounts, tempDatabase } from "../helpers/index.js";
import { startFixtureProcess, untilEvent } from "./processes.js";

/**
 * An idempotency key makes a repeated request — a retry after a lost answer, a double click, a
 * second process — return the task the first one recorded, and write nothing more: however many
 * ask at once, in one process or several. Keys are per owner.
 */
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });
const other = defineTask({ name: "other", run: (payload: unknown) => payload });

const tasksIn = (file: string) => tableCounts(file).tasks;

async function refusal(promise: Promise<unknown>): Promise<TaskledgerError> {
  return promise.then(
    () => expect.fail("expected a refusal"),
    (error: TaskledgerError) => error,
  );
}

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
