import { describe, expect, it } from "vitest";
import { defineTask, TaskledgerError } from "../../src/index.js";
import { ledgerCounts, rawRows, waitingCount } from "../helpers/index.js";
import { eachDialect, openLedger } from "./fixture.js";

const mail = defineTask({
  name: "send_async_mail",
  timeout: 30_000,
  retry: { max: 2, delay: 1_000 },
  run: async () => "sent",
});
const other = defineTask({ name: "count_words", run: async () => 0 });

async function rawTask(file: string, id: number): Promise<Record<string, unknown>> {
  return (await rawRows(file, "select * from tasks where id = ?", id))[0]!;
}

/** The task's row as the embedded engine's queue entry. */
async function rawQueueJob(file: string, id: number): Promise<Record<string, unknown> | undefined> {
  return (
    await rawRows(
      file,
      "select queue, priority, status, run_at, created_at, worker_id from tasks where id = ?",
      id,
    )
  )[0];
}

eachDialect(() => {
  describe("enqueue", () => {
    it("writes the row with owner, queue, priority, timeout and retry, and its queue entry", async () => {
      const { tl, file } = openLedger({ tasks: [mail, other], queues: ["default", "mail"] });
      const task = await tl.tasks.enqueue(
        mail,
        { to: "a@example.com" },
        {
          description: "welcome mail",
          owner: "alice",
          queue: "mail",
          priority: 7,
          timeout: 12_345,
          retry: { max: 4, delay: 250, backoff: "exponential" },
        },
      );
      expect(task).toMatchObject({
        name: "send_async_mail",
        description: "welcome mail",
        owner: "alice",
        queue: "mail",
        priority: 7,
        status: "queued",
        failed: false,
        progress: 0,
        payload: { to: "a@example.com" },
        attempts: 0,
        maxAttempts: 5,
        timeoutMs: 12_345,
        reservedAt: null,
      });
      const row = await rawTask(file, task.id);
      expect(row).toMatchObject({
        owner: "alice",
        queue: "mail",
        priority: 7,
        timeout_ms: 12_345,
        max_attempts: 5,
        status: "queued",
      });
      // The retry timing in its stored form; the count is max_attempts.
      expect(row.retry).toBe("exp 250");
      expect(JSON.parse(row.payload as string)).toEqual({ to: "a@example.com" });
      const entry = await rawQueueJob(file, task.id)!;
      expect(entry).toMatchObject({ queue: "mail", priority: 7, status: "queued", worker_id: null });
      expect(entry.run_at).toBe(entry.created_at);
      expect(await tl.tasks.get(task.id)).toEqual(task);
    });

    it("takes the definition's timeout, retry and queue when the options do not say", async () => {
      const routed = defineTask({
        name: "routed",
        queue: "reports",
        timeout: 5_000,
        retry: 1,
        run: async () => null,
      });
      const { tl, file } = openLedger({ tasks: [mail, routed] });
      const a = await tl.tasks.enqueue(mail, null, { description: "defaults" });
      const b = await tl.tasks.enqueue("routed", null, { description: "by name" });
      expect(a).toMatchObject({
        queue: "default",
        priority: 0,
        owner: null,
        timeoutMs: 30_000,
        maxAttempts: 3,
      });
      expect(b).toMatchObject({ queue: "reports", timeoutMs: 5_000, maxAttempts: 2 });
      expect(await rawTask(file, a.id)).toMatchObject({ retry: "1000", max_attempts: 3 });
    });

    it.each([
      ["missing", {}],
      ["empty", { description: "" }],
      ["whitespace", { description: "  \t\n " }],
      ["not a string", { description: 42 }],
      ["no options at all", undefined],
    ])("requires a description (%s)", async (_label, options) => {
      const { tl, file } = openLedger({ tasks: [mail] });
      await tl.migrate();
      const before = await ledgerCounts(file);
      const error = await tl.tasks.enqueue(mail, null, options as never).catch((e) => e);
      expect(error).toBeInstanceOf(TaskledgerError);
      expect(error).toMatchObject({ code: "invalid_input", field: "description" });
      expect(error.message).toMatch(/^description: /);
      expect(await ledgerCounts(file)).toEqual(before);
    });
  });

  describe("enqueueMany", () => {
    it("writes every item in one go", async () => {
      const { tl, file } = openLedger({ tasks: [mail, other] });
      const created = await tl.tasks.enqueueMany([
        { task: mail, payload: { n: 1 }, options: { description: "one", owner: "alice" } },
        {
          task: "count_words",
          payload: "https://example.com",
          options: { description: "two", queue: "high" },
        },
        { task: mail, payload: { n: 3 }, options: { description: "three", priority: 2 } },
      ]);
      expect(created.map((t) => [t.name, t.description, t.queue, t.status])).toEqual([
        ["send_async_mail", "one", "default", "queued"],
        ["count_words", "two", "high", "queued"],
        ["send_async_mail", "three", "default", "queued"],
      ]);
      expect(new Set(created.map((t) => t.id)).size).toBe(3);
      expect(await ledgerCounts(file)).toMatchObject({ tasks: 3 });
      expect(await waitingCount(file)).toBe(3);
      expect(await tl.tasks.enqueueMany([])).toEqual([]);
    });

    it("gives every item its own row's id, across statement chunks and after other writes", async () => {
      const { tl } = openLedger({ tasks: [mail] });
      await tl.tasks.enqueue(mail, { n: -1 }, { description: "before" });
      // 700 items: written as several multi-row statements (256 + 256 + 128 + 60).
      const items = Array.from({ length: 700 }, (_, n) => ({
        task: mail,
        payload: { n },
        options: { description: `item ${n}`, owner: n % 2 ? "odd" : "even" },
      }));
      const created = await tl.tasks.enqueueMany(items);
      const again = await tl.tasks.enqueueMany(items.slice(0, 3));
      for (const [n, task] of [...created, ...again].entries()) {
        const stored = await tl.tasks.get(task.id);
        expect(stored).toMatchObject({
          id: task.id,
          payload: { n: n % 700 },
          description: `item ${n % 700}`,
        });
      }
      expect(new Set([...created, ...again].map((t) => t.id)).size).toBe(703);
    });

    it("stores each item's own values whichever columns the items of a batch share", async () => {
      const { tl, file } = openLedger({ tasks: [mail, other], queues: ["high", "default", "q"] });
      // Batches in which different sets of columns vary (more sets than the insert keeps shapes
      // for), some with every column the same, of sizes across the statement chunks.
      const variants: ((n: number) => { task: typeof mail | string; options: Record<string, unknown> })[] = [
        () => ({ task: mail, options: { description: "same" } }),
        (n) => ({ task: mail, options: { description: `d${n}` } }),
        (n) => ({ task: mail, options: { description: "same", owner: `u${n % 3}` } }),
        (n) => ({ task: n % 2 ? mail : "count_words", options: { description: "same" } }),
        (n) => ({ task: mail, options: { description: "same", queue: n % 4 ? "default" : "high" } }),
        (n) => ({ task: mail, options: { description: "same", priority: n % 5 } }),
        (n) => ({ task: mail, options: { description: "same", timeout: 1_000 + n } }),
        (n) => ({ task: mail, options: { description: "same", retry: n % 3 } }),
        (n) => ({ task: mail, options: { description: `d${n}`, owner: `u${n}`, priority: n % 2 } }),
        (n) => ({ task: mail, options: { description: "same", retry: { max: 1, delay: n } } }),
        (n) => ({
          task: other,
          options: { description: `d${n % 7}`, owner: n % 2 ? null : "o", queue: "q" },
        }),
      ];
      const sizes = [1, 2, 31, 300, 513];
      const expected: { id: number; row: Record<string, unknown> }[] = [];
      for (const [v, variant] of variants.entries()) {
        const size = sizes[v % sizes.length]!;
        const items = Array.from({ length: size }, (_, n) => ({ ...variant(n), payload: { v, n } }));
        const created = await tl.tasks.enqueueMany(items as never);
        for (const [n, task] of created.entries()) {
          const { task: definition, options } = items[n]!;
          const name = typeof definition === "string" ? definition : definition.name;
          const retry = options.retry as number | { max: number; delay: number } | undefined;
          const delay = typeof retry === "object" ? retry.delay : name === mail.name ? 1_000 : 5_000;
          const max = typeof retry === "object" ? retry.max : (retry ?? (name === mail.name ? 2 : 3));
          expected.push({
            id: task.id,
            row: {
              name,
              description: options.description,
              owner: options.owner ?? null,
              queue: options.queue ?? "default",
              priority: options.priority ?? 0,
              timeout_ms: options.timeout ?? (name === mail.name ? 30_000 : 60_000),
              retry: String(delay),
              max_attempts: max + 1,
              payload: JSON.stringify({ v, n }),
              status: "queued",
              failed: 0,
              progress: 0,
              attempts: 0,
            },
          });
        }
      }
      const ids = expected.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      const rows = new Map((await rawRows(file, "select * from tasks")).map((r) => [Number(r.id), r]));
      expect(rows.size).toBe(expected.length);
      for (const { id, row } of expected) {
        expect(rows.get(id)).toMatchObject(row);
        expect(rows.get(id)!.created_at).toBe(rows.get(id)!.updated_at);
      }
    });

    it.each([
      [
        "a BigInt payload",
        { task: mail, payload: { big: 1n }, options: { description: "bad" } },
        "items[3].payload.big",
        "invalid_input",
      ],
      [
        "a missing description",
        { task: mail, payload: null, options: { description: " " } },
        "items[3].description",
        "invalid_input",
      ],
      [
        "an unknown task",
        { task: "nope", payload: null, options: { description: "x" } },
        "items[3].task",
        "unknown_task",
      ],
      [
        "a bad timeout",
        { task: mail, payload: null, options: { description: "x", timeout: -1 } },
        "items[3].timeout",
        "invalid_input",
      ],
    ])("writes nothing when item 3 has %s, naming items[3]", async (_label, bad, field, code) => {
      const { tl, file } = openLedger({ tasks: [mail] });
      await tl.tasks.enqueue(mail, null, { description: "already there" });
      const before = await ledgerCounts(file);
      const good = (n: number) => ({ task: mail, payload: { n }, options: { description: `item ${n}` } });
      const error = await tl.tasks
        .enqueueMany([good(0), good(1), good(2), bad as never, good(4)])
        .catch((e) => e);
      expect(error).toBeInstanceOf(TaskledgerError);
      expect(error).toMatchObject({ code, field });
      expect(error.message).toMatch(/^items\[3\]\./);
      expect(await ledgerCounts(file)).toEqual(before);
    });

    it("refuses a non-array", async () => {
      const { tl } = openLedger({ tasks: [mail] });
      await expect(tl.tasks.enqueueMany("nope" as never)).rejects.toMatchObject({
        code: "invalid_input",
        field: "items",
      });
    });
  });
});
