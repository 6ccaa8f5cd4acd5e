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
