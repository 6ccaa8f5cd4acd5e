import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Taskledger } from "../../src/index.js";
import { type DemoServer, startDemo } from "../browser/demo-server.js";
import { gate } from "../flow/fixture.js";
import { tempDatabase, waitFor } from "../helpers/index.js";

let tl: Taskledger | undefined;
const servers: DemoServer[] = [];
afterEach(async () => {
  await tl?.close();
  tl = undefined;
  for (const server of servers.splice(0)) await server.stop();
});

describe("a handler's point of no return", () => {
  it("a cancel after it is refused with the reason, and the task finishes as it did", async () => {
    const passed = gate();
    const finish = gate();
    const charge = defineTask({
      name: "charge",
      async run(_: null, ctx) {
        await ctx.pointOfNoReturn("charging the card");
        passed.open();
        await finish.promise;
        return "charged";
      },
    });
    tl = createTaskledger({ database: tempDatabase().url, tasks: [charge] });
    await tl.createWorker().start();
    const task = await tl.tasks.enqueue(charge, null, { description: "charge", owner: "alice" });
    await passed.promise;

    const refused = await tl.tasks.cancel(task.id, { owner: "alice" });
    expect(refused.ok).toBe(false);
    expect(refused).toMatchObject({
      reason: expect.stringMatching(
        /^task \d+ passed its point of no return at .+ \(charging the card\); it can no longer be canceled$/,
      ),
    });
    expect((await tl.tasks.get(task.id))!).toMatchObject({
      status: "running",
      cancelRequestedAt: null,
      noReturnReason: "charging the card",
    });
    finish.open();
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", { message: "the task" });
    expect(await tl.tasks.get(task.id)).toMatchObject({
      status: "finished",
      failed: false,
      result: "charged",
    });
  });

  it("a cancel that came first stops the handler at it: the effect never happens and the task ends canceled", async () => {
    const waiting = gate();
    const go = gate();
    let charged = false;
    const charge = defineTask({
      name: "charge",
      async run(_: null, ctx) {
        waiting.open();
        await go.promise;
        await ctx.pointOfNoReturn("charging the card");
        charged = true;
        return "charged";
      },
    });
    tl = createTaskledger({ database: tempDatabase().url, tasks: [charge] });
    await tl.createWorker().start();
    const task = await tl.tasks.enqueue(charge, null, { description: "charge" });
    await waiting.promise;
    expect(await tl.tasks.cancel(task.id)).toMatchObject({ ok: true });
    go.open();
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "canceled", {
      message: "the cancel",
    });
    expect(charged).toBe(false);
    expect(await tl.tasks.get(task.id)).toMatchObject({ status: "canceled", failed: true, noReturnAt: null });
  });

  it("the demo's mail: once delivered it can no longer be canceled, so it is never recorded canceled", async () => {
    // Slow steps: the mail is delivered, then the task goes on for a while before it finishes.
    const server = await startDemo({ MAILER_STEP_MS: "1500" });
    servers.push(server);
    await waitFor(() => server.output().includes(`Open ${server.url} in a browser`), {
      message: "the banner",
    });
    // The demo's worker runs it; this process only enqueues, as the demo's form does.
    const sendAsyncMail = defineTask({
      name: "send_async_mail",
      run: () => {
        throw new Error("runs in the demo's worker");
      },
    });
    tl = createTaskledger({ database: server.database, tasks: [sendAsyncMail] });
    const task = await tl.tasks.enqueue(
      sendAsyncMail,
      { subject: "hello", recipients: ["friend@example.com"], templateName: "welcome" },
      { description: "Mail to friend@example.com", owner: "alice", queue: "default" },
    );
    const mailbox = join(server.dataDir, "mailbox");
    await waitFor(() => existsSync(mailbox) && readdirSync(mailbox).some((f) => f.endsWith(".eml")), {
      message: "the mail to be delivered",
    });

    const refused = await tl.tasks.cancel(task.id, { owner: "alice" });
    expect(refused).toMatchObject({ ok: false, reason: expect.stringContaining("(sending the mail)") });
    await waitFor(async () => (await tl!.tasks.get(task.id))?.status === "finished", {
      timeoutMs: 20_000,
      message: "the mail task to finish",
    });
    expect(await tl.tasks.get(task.id)).toMatchObject({ status: "finished", failed: false });
  });
});
