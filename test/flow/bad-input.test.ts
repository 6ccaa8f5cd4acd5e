import { describe, expect, it } from "vitest";
import { defineTask, type Taskledger, TaskledgerError } from "../../src/index.js";
import { ledgerCounts } from "../helpers/index.js";
import { eachDialect, ManualClock, openLedger } from "./fixture.js";

const mail = defineTask({ name: "send_async_mail", run: async () => "sent" });
const ok = { description: "a mail", owner: "alice" };

class Point {
  x = 1;
}
const circular = () => {
  const list: unknown[] = [1];
  list.push({ back: list });
  return { items: list };
};

type Case = readonly [
  label: string,
  call: (tl: Taskledger, now: number) => Promise<unknown>,
  field: string,
  code?: string,
];

const cases: Case[] = [
  ["unknown task name", (tl) => tl.tasks.enqueue("no_such_task", null, ok), "task", "unknown_task"],
  [
    "unknown task on reserve",
    (tl, now) => tl.tasks.reserve(now + 60_000, "no_such_task", null, ok),
    "task",
    "unknown_task",
  ],
  ["missing description", (tl) => tl.tasks.enqueue(mail, null, { owner: "alice" } as never), "description"],
  ["empty description", (tl) => tl.tasks.enqueue(mail, null, { description: "" }), "description"],
  [
    "blank description on reserve",
    (tl, now) => tl.tasks.reserve(now + 60_000, mail, null, { description: "   " }),
    "description",
  ],
  ["payload BigInt", (tl) => tl.tasks.enqueue(mail, { to: ["a", 2n] }, ok), "payload.to[1]"],
  ["payload circular", (tl) => tl.tasks.enqueue(mail, circular(), ok), "payload.items[1].back"],
  ["payload function", (tl) => tl.tasks.enqueue(mail, { render: () => "x" }, ok), "payload.render"],
  ["payload symbol", (tl) => tl.tasks.enqueue(mail, { tag: Symbol("t") }, ok), "payload.tag"],
  ["payload NaN", (tl) => tl.tasks.enqueue(mail, { count: Number.NaN }, ok), "payload.count"],
  ["payload Map", (tl) => tl.tasks.enqueue(mail, { headers: new Map() }, ok), "payload.headers"],
  ["payload class instance", (tl) => tl.tasks.enqueue(mail, { at: [new Point()] }, ok), "payload.at[0]"],
  [
    "payload BigInt on reserve",
    (tl, now) => tl.tasks.reserve(now + 60_000, mail, { n: 1n }, ok),
    "payload.n",
  ],
  ["reservation in the past", (tl, now) => tl.tasks.reserve(now - 1, mail, null, ok), "at"],
  ["reservation less than the lead", (tl, now) => tl.tasks.reserve(now + 10_000, mail, null, ok), "at"],
  ["reservation invalid date", (tl) => tl.tasks.reserve("2030-13-45T99:00", mail, null, ok), "at"],
  ["negative timeout", (tl) => tl.tasks.enqueue(mail, null, { ...ok, timeout: -1 }), "timeout"],
  ["non-integer timeout", (tl) => tl.tasks.enqueue(mail, null, { ...ok, timeout: 1.5 }), "timeout"],
  ["zero timeout", (tl) => tl.tasks.enqueue(mail, null, { ...ok, timeout: 0 }), "timeout"],
  ["negative retry", (tl) => tl.tasks.enqueue(mail, null, { ...ok, retry: -1 }), "retry"],
  ["non-integer retry", (tl) => tl.tasks.enqueue(mail, null, { ...ok, retry: 0.5 }), "retry"],
  [
    "non-integer retry.max",
    (tl) => tl.tasks.enqueue(mail, null, { ...ok, retry: { max: 1.5, delay: 1 } }),
    "retry.max",
  ],
  [
    "negative retry.delay",
    (tl) => tl.tasks.enqueue(mail, null, { ...ok, retry: { max: 1, delay: -5 } }),
    "retry.delay",
  ],
  ["non-integer priority", (tl) => tl.tasks.enqueue(mail, null, { ...ok, priority: 0.5 }), "priority"],
  ["empty owner", (tl) => tl.tasks.enqueue(mail, null, { ...ok, owner: "" }), "owner"],
  ["malformed queue name", (tl) => tl.tasks.enqueue(mail, null, { ...ok, queue: "a queue" }), "queue"],
  [
    "unknown queue where queues are declared",
    (tl) => tl.tasks.enqueue(mail, null, { ...ok, queue: "nope" }),
    "queue",
  ],
  ["cancel of an unknown id", (tl) => tl.tasks.cancel(424_242), "id", "not_found"],
  ["cancel of a non-integer id", (tl) => tl.tasks.cancel(1.5), "id"],
  ["cancelReservation of an unknown id", (tl) => tl.tasks.cancelReservation(424_242), "id", "not_found"],
];

eachDialect(() => {
  describe("bad input is refused, naming the field, with nothing written", () => {
    it.for(cases)("%s", async ([, call, field, code = "invalid_input"]) => {
      const clock = new ManualClock();
      const { tl, file } = openLedger({ tasks: [mail], clock, queues: ["high", "default"] });
      // Something already on file, so "unchanged" means more than "still empty".
      await tl.tasks.enqueue(mail, null, { description: "existing", owner: "alice" });
      await tl.tasks.reserve(clock.now() + 60_000, mail, null, {
        description: "existing reservation",
        owner: "alice",
      });
      const before = await ledgerCounts(file);
      expect(before).toMatchObject({ tasks: 2, notifications: 1 });

      const error = await call(tl, clock.now()).then(
        (value) => {
          throw new Error(`expected a refusal, got ${JSON.stringify(value)}`);
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TaskledgerError);
      expect(error).toMatchObject({ code, field });
      expect((error as Error).message).toContain(field);
      expect(await ledgerCounts(file)).toEqual(before);
    });
  });
});
