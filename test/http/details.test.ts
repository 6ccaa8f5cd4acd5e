import { afterEach, describe, expect, it } from "vitest";
import { createDashboardHandler, type Dashboard } from "../../src/dashboard/index.js";
import { defineTask } from "../../src/index.js";
import { gate, isTerminal, ManualClock, openLedger, waitForTask } from "../flow/fixture.js";
import { clientFor, ORIGIN, testAuthenticate } from "./client.js";

/** The task center and detail pages as HTML: what each list holds, in which order, and what it shows. */
const SECRET = "a details test secret";
const dashboards: Dashboard[] = [];
afterEach(() => {
  for (const d of dashboards.splice(0)) d.close();
});

function pages(fixture: ReturnType<typeof openLedger>) {
  const dashboard = createDashboardHandler(fixture.tl, { authenticate: testAuthenticate, secret: SECRET });
  dashboards.push(dashboard);
  return async (path: string, user: string) => {
    const response = await dashboard(new Request(`${ORIGIN}${path}`, { headers: { "x-test-user": user } }));
    expect(response.status, path).toBe(200);
    return response.text();
  };
}

/** The ids of the tasks a section of the page lists, in order. */
function idsIn(html: string, section: string): number[] {
  const start = html.indexOf(`id="${section}"`);
  const end = html.indexOf("</section>", start);
  return [...html.slice(start, end).matchAll(/<li class="task" data-task-id="(\d+)"/g)].map((m) =>
    Number(m[1]),
  );
}

describe("the task center", () => {
  it('lists "Last finished" by the time each task ended, canceled ones among them', async () => {
    const clock = new ManualClock();
    const gates = new Map<number, ReturnType<typeof gate>>();
    const job = defineTask({
      name: "job",
      retry: 0,
      async run(_: null, ctx) {
        await gates.get(ctx.id)!.promise;
      },
    });
    const fixture = openLedger({ tasks: [job], clock });
    const { tl } = fixture;
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const task = await tl.tasks.enqueue(job, null, { description: `task ${i}`, owner: "alice" });
      gates.set(task.id, gate());
      ids.push(task.id);
    }
    const [first, second, third] = ids as [number, number, number];
    const reserved = await tl.tasks.reserve(clock.now() + 3_600_000, job, null, {
      description: "reserved",
      owner: "alice",
    });
    await tl.createWorker({ concurrency: 3 }).start();
    await Promise.all(ids.map((id) => waitForTask(tl, id, (t) => t.status === "running")));
    // Ends: the third, then the reservation (canceled), then the first, then the second.
    for (const end of [third, reserved.id, first, second]) {
      clock.advance(1_000);
      if (end === reserved.id) await tl.tasks.cancel(end);
      else gates.get(end)!.open();
      await waitForTask(tl, end, isTerminal);
    }
    const html = await pages(fixture)("/", "alice");
    expect(idsIn(html, "finished")).toEqual([second, first, reserved.id, third]);
  });
});

describe("a failed task's log", () => {
  it("reads without stacks and causes for its owner, in full for admins: on the detail page and in the API", async () => {
    const fails = defineTask({
      name: "fails",
      retry: 0,
      run() {
        throw new Error("the mail server said no", { cause: new Error("connect ECONNREFUSED 10.1.2.3:25") });
      },
    });
    const fixture = openLedger({ tasks: [fails] });
    const { tl } = fixture;
    await tl.createWorker().start();
    const task = await tl.tasks.enqueue(fails, null, { description: "fails", owner: "alice" });
    await waitForTask(tl, task.id, isTerminal);
    const get = pages(fixture);
    const logOf = (html: string) =>
      html.slice(html.indexOf('id="log"'), html.indexOf("</section>", html.indexOf('id="log"')));

    const own = logOf(await get(`/tasks/${task.id}`, "alice"));
    expect(own).toContain("Failed for: Error: the mail server said no");
    expect(own).not.toContain("ECONNREFUSED");
    expect(own).not.toMatch(/\n\s+at /);
    const admins = logOf(await get(`/tasks/${task.id}`, "root"));
    expect(admins).toContain("Caused by: Error: connect ECONNREFUSED 10.1.2.3:25");
    expect(admins).toMatch(/\n\s+at /);

    const api = dashboards[0]!;
    const alice = await (await clientFor(api, "alice").get(`/api/tasks/${task.id}`)).json();
    expect(alice.log).toBe("Failed for: Error: the mail server said no");
    const listed = await (await clientFor(api, "alice").get("/api/tasks")).json();
    expect(listed.tasks[0].log).toBe("Failed for: Error: the mail server said no");
    const root = await (await clientFor(api, "root").get(`/api/tasks/${task.id}`)).json();
    expect(root.log).toContain("Caused by: Error: connect ECONNREFUSED 10.1.2.3:25");
  });
});

/** The markup of one task's card in a section of the task center. */
function card(html: string, section: string, id: number): string {
  const sectionAt = html.indexOf(`id="${section}"`);
  const start = html.indexOf(`data-task-id="${id}"`, sectionAt);
  expect(start, `task #${id} in #${section}`).toBeGreaterThan(0);
  expect(start).toBeLessThan(html.indexOf("</section>", sectionAt));
  return html.slice(start, html.indexOf("</li>", start));
}

describe("how a task ended, and the retry it waits for", () => {
  it("shows a waiting retry as “attempt 1 of 4 failed: … — retrying <time>” on its card and its page", async () => {
    const clock = new ManualClock();
    const flaky = defineTask({
      name: "flaky",
      retry: { max: 3, delay: 5_000 },
      run() {
        throw new Error("the feed is down", { cause: new Error("ENOTFOUND") });
      },
    });
    const fixture = openLedger({ tasks: [flaky], clock });
    const { tl } = fixture;
    await tl.createWorker().start();
    const task = await tl.tasks.enqueue(flaky, null, { description: "flaky", owner: "alice" });
    const failedAt = (await waitForTask(tl, task.id, (t) => t.status === "queued" && t.attempts === 1))
      .updatedAt;
    const retryAt = new Date(failedAt.getTime() + 5_000).toISOString();
    const get = pages(fixture);
    const line = `attempt 1 of 4 failed: Error: the feed is down — retrying <time datetime="${retryAt}" data-relative="until">`;
    expect(card(await get("/", "alice"), "in-progress", task.id)).toContain(line);
    const detail = await get(`/tasks/${task.id}`, "alice");
    expect(detail).toContain(line);
    expect(detail).not.toContain("ENOTFOUND");
  });

  it("shows a failed or canceled task without a full bar: what became of it instead", async () => {
    const gates = new Map<number, ReturnType<typeof gate>>();
    const stops = defineTask({
      name: "stops",
      retry: 0,
      async run(fail: boolean, ctx) {
        await ctx.setProgress(40);
        await Promise.race([
          gates.get(ctx.id)!.promise,
          new Promise((_resolve, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
          ),
        ]);
        if (fail) throw new Error("disk full");
      },
    });
    const fixture = openLedger({ tasks: [stops] });
    const { tl } = fixture;
    await tl.createWorker({ concurrency: 2 }).start();
    const failed = await tl.tasks.enqueue(stops, true, { description: "fails at 40 %", owner: "alice" });
    const canceled = await tl.tasks.enqueue(stops, false, {
      description: "canceled at 40 %",
      owner: "alice",
    });
    for (const task of [failed, canceled]) gates.set(task.id, gate());
    await waitForTask(tl, canceled.id, (t) => t.progress === 40);
    await waitForTask(tl, failed.id, (t) => t.progress === 40);
    gates.get(failed.id)!.open();
    await tl.tasks.cancel(canceled.id);
    await waitForTask(tl, failed.id, isTerminal);
    await waitForTask(tl, canceled.id, isTerminal);

    const get = pages(fixture);
    const home = await get("/", "alice");
    const failedCard = card(home, "finished", failed.id);
    expect(failedCard).not.toContain("<progress");
    expect(failedCard).toContain('data-field="outcome">failed: Error: disk full</p>');
    const canceledCard = card(home, "finished", canceled.id);
    expect(canceledCard).not.toContain("<progress");
    expect(canceledCard).toContain('data-field="outcome">Canceled while running</p>');
    const detail = await get(`/tasks/${failed.id}`, "alice");
    expect(detail).not.toContain("<progress");
    expect(detail).toContain("failed: Error: disk full");
  });
});
