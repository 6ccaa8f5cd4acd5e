import { afterEach, describe, expect, it } from "vitest";
import { createDashboardHandler, type Dashboard } from "../../src/dashboard/index.js";
import { defineTask } from "../../src/index.js";
import { gate, isTerminal, ManualClock, openLedger, waitForTask } from "../flow/fixture.js";
import { ORIGIN, testAuthenticate } from "./client.js";

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
