import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { eachDialect, type Gate, gate, isTerminal, ManualClock, openLedger, waitForTask } from "./fixture.js";

eachDialect(() => {
  describe("reads", () => {
    it("get returns the task, or undefined (also for another owner with a scope)", async () => {
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl } = openLedger({ tasks: [job] });
      const task = await tl.tasks.enqueue(job, { a: 1 }, { description: "d", owner: "alice" });
      expect(await tl.tasks.get(task.id)).toEqual(task);
      expect(await tl.tasks.get(task.id, { owner: "alice" })).toEqual(task);
      expect(await tl.tasks.get(task.id, { owner: "bob" })).toBeUndefined();
      expect(await tl.tasks.get(task.id + 1)).toBeUndefined();
    });

    it("inProgress lists an owner's queued and running tasks, oldest first", async () => {
      const clock = new ManualClock();
      const entered = gate<void>();
      const release = gate<void>();
      const hold = defineTask({
        name: "hold",
        async run() {
          entered.open();
          await release.promise;
        },
      });
      const quick = defineTask({ name: "quick", run: async () => 1 });
      // "parked": a declared queue no worker takes.
      const { tl } = openLedger({ tasks: [hold, quick], clock, queues: ["high", "default", "parked"] });
      const done = await tl.tasks.enqueue(quick, null, { description: "done", owner: "alice" });
      await tl.createWorker({ concurrency: 1, queues: ["high", "default"] }).start();
      await waitForTask(tl, done.id, isTerminal);
      const running = await tl.tasks.enqueue(hold, null, { description: "running", owner: "alice" });
      await entered.promise;
      const queued = await tl.tasks.enqueue(quick, null, { description: "queued", owner: "alice" });
      await tl.tasks.reserve(clock.now() + 60_000, quick, null, { description: "reserved", owner: "alice" });
      await tl.tasks.enqueue(quick, null, { description: "bob's", owner: "bob" });
      const canceled = await tl.tasks.enqueue(quick, null, {
        description: "canceled",
        owner: "alice",
        queue: "parked",
      });
      await tl.tasks.cancel(canceled.id);

      const list = await tl.tasks.inProgress("alice");
      expect(list.map((t) => [t.id, t.status])).toEqual([
        [running.id, "running"],
        [queued.id, "queued"],
      ]);
      expect((await tl.tasks.inProgress("bob")).map((t) => t.description)).toEqual(["bob's"]);
      expect((await tl.tasks.inProgress()).length).toBe(3);
      release.open();
    });

    it("recent returns the 5 most recently finished tasks of an owner by default, newest first", async () => {
      const clock = new ManualClock();
      const gates = new Map<number, Gate<void>>();
      const job = defineTask({
        name: "job",
        retry: 0,
        async run(fail: boolean, ctx) {
          await gates.get(ctx.id)!.promise;
          if (fail) throw new Error("failed on purpose");
          return ctx.id;
        },
      });
      const { tl } = openLedger({ tasks: [job], clock, queues: ["high", "default", "parked"] });
      const ids: number[] = [];
      for (let i = 0; i < 7; i++) {
        const task = await tl.tasks.enqueue(job, i === 4, { description: `task ${i}`, owner: "alice" });
        gates.set(task.id, gate());
        ids.push(task.id);
      }
      await tl.tasks.enqueue(job, false, { description: "bob's", owner: "bob", queue: "parked" });
      await tl.createWorker({ concurrency: 7, queues: ["high", "default"] }).start();
      await Promise.all(ids.map((id) => waitForTask(tl, id, (t) => t.status === "running")));
      const finishOrder = [2, 0, 6, 4, 1, 5, 3].map((i) => ids[i]!);
      for (const id of finishOrder) {
        clock.advance(1_000);
        gates.get(id)!.open();
        await waitForTask(tl, id, isTerminal);
      }
      const recent = await tl.tasks.recent("alice");
      expect(recent.map((t) => t.id)).toEqual(finishOrder.slice(-5).reverse());
      expect(recent.find((t) => t.id === ids[4])?.failed).toBe(true);
      expect((await tl.tasks.recent("alice", 2)).map((t) => t.id)).toEqual([ids[3], ids[5]]);
      expect(await tl.tasks.recent("bob")).toEqual([]);
    });

    it("recent leaves out canceled tasks", async () => {
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl } = openLedger({ tasks: [job] });
      const canceled = await tl.tasks.enqueue(job, null, { description: "c", owner: "alice" });
      await tl.tasks.cancel(canceled.id);
      expect(await tl.tasks.recent("alice")).toEqual([]);
    });

    it("reserved lists an owner's reservations soonest first, up to a limit", async () => {
      const clock = new ManualClock();
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl } = openLedger({ tasks: [job], clock });
      const reserve = (seconds: number, owner = "alice") =>
        tl.tasks.reserve(clock.now() + seconds * 1_000, job, null, { description: `in ${seconds}s`, owner });
      const late = await reserve(90);
      const soon = await reserve(40);
      const middle = await reserve(60);
      await reserve(35, "bob");
      await tl.tasks.enqueue(job, null, { description: "queued", owner: "alice" });
      expect((await tl.tasks.reserved("alice")).map((t) => t.id)).toEqual([soon.id, middle.id, late.id]);
      expect((await tl.tasks.reserved("alice", 2)).map((t) => t.id)).toEqual([soon.id, middle.id]);
      expect((await tl.tasks.reserved("bob")).map((t) => t.description)).toEqual(["in 35s"]);
      await expect(tl.tasks.reserved("alice", 0)).rejects.toMatchObject({ field: "limit" });
    });

    it("notifications.after returns an owner's feed after an id, oldest first", async () => {
      const clock = new ManualClock();
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl } = openLedger({ tasks: [job], clock });
      for (let i = 0; i < 3; i++) {
        await tl.tasks.reserve(clock.now() + 60_000, job, null, { description: `r${i}`, owner: "alice" });
        await tl.tasks.reserve(clock.now() + 60_000, job, null, { description: `b${i}`, owner: "bob" });
      }
      const all = await tl.notifications.after("alice", 0);
      expect(all).toHaveLength(3);
      expect(all.every((n) => n.owner === "alice" && n.name === "task_reserve")).toBe(true);
      expect(all.map((n) => n.id)).toEqual([...all.map((n) => n.id)].sort((a, b) => a - b));
      expect((await tl.notifications.after("alice", all[0]!.id)).map((n) => n.id)).toEqual([
        all[1]!.id,
        all[2]!.id,
      ]);
      expect(await tl.notifications.after("alice", all[2]!.id)).toEqual([]);
      expect((await tl.notifications.after("alice", 0, 2)).map((n) => n.id)).toEqual([
        all[0]!.id,
        all[1]!.id,
      ]);
      expect(all[0]!.createdAt.getTime()).toBe(clock.now());
      await expect(tl.notifications.after("alice", -1)).rejects.toMatchObject({
        code: "invalid_input",
        field: "after",
      });
    });

    it("list filters and pages newest first", async () => {
      const job = defineTask({ name: "job", run: async () => 1 });
      const { tl } = openLedger({ tasks: [job] });
      const ids: number[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await tl.tasks.enqueue(job, null, { description: `t${i}`, owner: "alice" })).id);
      await tl.tasks.enqueue(job, null, { description: "bob", owner: "bob" });
      const first = await tl.tasks.list({ owner: "alice", limit: 2 });
      expect(first.map((t) => t.id)).toEqual([ids[4], ids[3]]);
      const second = await tl.tasks.list({ owner: "alice", limit: 2, cursor: first[1]!.id });
      expect(second.map((t) => t.id)).toEqual([ids[2], ids[1]]);
      await tl.tasks.cancel(ids[0]!);
      expect((await tl.tasks.list({ owner: "alice", status: "canceled" })).map((t) => t.id)).toEqual([
        ids[0],
      ]);
    });
  });
});
