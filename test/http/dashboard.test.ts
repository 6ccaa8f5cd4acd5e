import { afterEach, describe, expect, it } from "vitest";
import { createDashboardHandler, type Dashboard } from "../../src/dashboard/index.js";
import { csrfToken } from "../../src/http/index.js";
import { defineTask } from "../../src/index.js";
import { ENDING_TASKS, gate, ManualClock, oneOfEachEnd, openLedger } from "../flow/fixture.js";
import { waitFor } from "../helpers/index.js";
import { ORIGIN, testAuthenticate } from "./client.js";

/** The dashboard's pages, rendered without a server or a browser: escaping, access, forms. */
const SECRET = "a dashboard test secret";
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });

const dashboards: Dashboard[] = [];
afterEach(() => {
  for (const d of dashboards.splice(0)) d.close();
});

function setup(options: { loginPath?: string } = {}) {
  const fixture = openLedger({ tasks: [echo, ...ENDING_TASKS] });
  const dashboard = createDashboardHandler(fixture.tl, {
    authenticate: testAuthenticate,
    secret: SECRET,
    ...options,
  });
  dashboards.push(dashboard);
  const get = (path: string, user: string | null, headers: Record<string, string> = {}) =>
    dashboard(
      new Request(`${ORIGIN}${path}`, { headers: { ...(user ? { "x-test-user": user } : {}), ...headers } }),
    );
  const postForm = (
    path: string,
    user: string | null,
    fields: Record<string, string>,
    headers: Record<string, string> = {},
  ) =>
    dashboard(
      new Request(`${ORIGIN}${path}`, {
        method: "POST",
        headers: {
          ...(user ? { "x-test-user": user } : {}),
          "content-type": "application/x-www-form-urlencoded",
          "sec-fetch-site": "same-origin",
          ...headers,
        },
        body: new URLSearchParams(fields),
      }),
    );
  return { ...fixture, dashboard, get, postForm };
}

const token = (user: string) => csrfToken(SECRET, { user });

describe("dashboard pages", () => {
  it("serve the task center's lists, escaped, under a CSP with no inline script", async () => {
    const { tl, get } = setup();
    const xss = `<script>alert(1)</script><img src=x onerror=alert(2)>`;
    const queued = await tl.tasks.enqueue(echo, 1, { description: xss, owner: "alice" });
    const later = await tl.tasks.reserve(Date.now() + 120_000, echo, 2, {
      description: "later",
      owner: "alice",
    });
    const sooner = await tl.tasks.reserve(Date.now() + 60_000, echo, 3, {
      description: "sooner",
      owner: "alice",
    });
    await tl.tasks.enqueue(echo, 4, { description: "bob's secret", owner: "bob" });

    const response = await get("/", "alice");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(response.headers.get("content-security-policy")).not.toContain("unsafe-inline");
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toContain(xss);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;");
    expect(html).not.toContain("bob's secret");
    const reserved = html.slice(html.indexOf('id="reserved"'), html.indexOf('id="finished"'));
    expect(reserved.indexOf(`data-task-id="${sooner.id}"`)).toBeLessThan(
      reserved.indexOf(`data-task-id="${later.id}"`),
    );
    const inProgress = html.slice(html.indexOf('id="in-progress"'), html.indexOf('id="reserved"'));
    expect(inProgress).toContain(`data-task-id="${queued.id}"`);
    expect(html).toMatch(/data-events="\/api\/events" data-after="\d+"/);
  });

  it("ask for a login: 401, or a redirect to the host's login page", async () => {
    expect((await setup().get("/", null)).status).toBe(401);
    const redirected = await setup({ loginPath: "/login" }).get("/tasks/3?x=1", null);
    expect(redirected.status).toBe(303);
    expect(redirected.headers.get("location")).toBe("/login?next=%2Ftasks%2F3%3Fx%3D1");
  });

  it("show a task's detail to its owner and admins only", async () => {
    const { tl, get } = setup();
    const task = await tl.tasks.enqueue(echo, { secret: 42 }, { description: "mine", owner: "alice" });
    const mine = await (await get(`/tasks/${task.id}`, "alice")).text();
    expect(mine).toContain("&quot;secret&quot;: 42");
    expect((await get(`/tasks/${task.id}`, "bob")).status).toBe(404);
    expect((await get(`/tasks/${task.id}`, "root")).status).toBe(200);
    expect((await get("/tasks/nope", "alice")).status).toBe(404);
  });

  it("cancel from a form: token and same origin required, then a flash message shown once", async () => {
    const { tl, get, postForm } = setup();
    const task = await tl.tasks.enqueue(echo, 1, { description: "x", owner: "alice" });
    const path = `/tasks/${task.id}/cancel`;

    expect((await postForm(path, "alice", { return_to: "/" })).status).toBe(403);
    expect((await postForm(path, "alice", { _csrf: token("bob") })).status).toBe(403);
    expect(
      (await postForm(path, "alice", { _csrf: token("alice") }, { "sec-fetch-site": "cross-site" })).status,
    ).toBe(403);
    expect((await postForm(path, "bob", { _csrf: token("bob") })).status).toBe(404);
    expect((await tl.tasks.get(task.id))?.status).toBe("queued");

    const done = await postForm(path, "alice", { _csrf: token("alice"), return_to: "//evil.test/x" });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/");
    expect((await tl.tasks.get(task.id))?.status).toBe("canceled");
    const cookie = done.headers.get("set-cookie")!.split(";")[0]!;
    const next = await get("/", "alice", { cookie });
    expect(await next.text()).toContain(`Task #${task.id} (echo) is canceled.`);
    expect(next.headers.get("set-cookie")).toMatch(/^tl_flash=; .*Max-Age=0/);
    const tampered = await get("/", "alice", { cookie: `${cookie.slice(0, -3)}abc` });
    expect(await tampered.text()).not.toContain("is canceled");

    const again = await postForm(path, "alice", { _csrf: token("alice") }, { accept: "application/json" });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({
      ok: false,
      message: {
        kind: "danger",
        text: `Task #${task.id} is already canceled.`,
      },
    });
  });

  it("bind form tokens to the login: another login's token of the same user is refused", async () => {
    const { tl, get, postForm } = setup();
    const task = await tl.tasks.enqueue(echo, 1, { description: "x", owner: "alice" });
    const tokenOn = async (session: string) =>
      /name="_csrf" value="([^"]+)"/.exec(
        await (await get("/", "alice", { "x-test-session": session })).text(),
      )![1]!;
    const earlier = await tokenOn("login-1");
    const current = await tokenOn("login-2");
    expect(current).not.toBe(earlier);
    expect(await tokenOn("login-2")).toBe(current);

    const path = `/tasks/${task.id}/cancel`;
    const refused = await postForm(path, "alice", { _csrf: earlier }, { "x-test-session": "login-2" });
    expect(refused.status).toBe(403);
    expect((await tl.tasks.get(task.id))?.status).toBe("queued");
    const done = await postForm(path, "alice", { _csrf: current }, { "x-test-session": "login-2" });
    expect(done.status).toBe(303);
    expect((await tl.tasks.get(task.id))?.status).toBe("canceled");
  });

  it("keep the admin views for admins, with filters and paging", async () => {
    const { tl, get } = setup();
    await tl.tasks.enqueueMany(
      Array.from({ length: 60 }, (_, i) => ({
        task: echo,
        payload: i,
        options: { description: `t${i}`, owner: i % 2 ? "alice" : "bob" },
      })),
    );
    const canceled = await tl.tasks.enqueue(echo, 0, { description: "stop", owner: "alice" });
    await tl.tasks.cancel(canceled.id);
    expect((await get("/admin", "alice")).status).toBe(403);
    const page = await (await get("/admin", "root")).text();
    expect(page.match(/<tr data-task-id=/g)).toHaveLength(50);
    expect(page).toContain("Older →");
    const filtered = await (await get("/admin?status=canceled&owner=alice", "root")).text();
    expect(filtered.match(/<tr data-task-id="(\d+)"/g)).toEqual([`<tr data-task-id="${canceled.id}"`]);
    const older = /href="(\/admin\?[^"]*cursor=\d+)"/.exec(page)![1]!.replaceAll("&amp;", "&");
    expect((await (await get(older, "root")).text()).match(/<tr data-task-id=/g)).toHaveLength(11);
  });

  it("filter the admin's tasks by failed apart from finished and canceled, and count each apart", async () => {
    const { tl, get } = setup();
    const ids = await oneOfEachEnd(tl, "alice");
    const rows = async (query: string) =>
      [...(await (await get(`/admin?${query}`, "root")).text()).matchAll(/<tr data-task-id="(\d+)"/g)].map(
        (m) => Number(m[1]),
      );
    expect(await rows("status=failed")).toEqual([ids.failed]);
    expect(await rows("status=finished")).toEqual([ids.finished]);
    expect(await rows("status=canceled")).toEqual([ids.canceled]);

    const page = await (await get("/admin?status=failed", "root")).text();
    expect(page).toContain('<option value="failed" selected>failed</option>');
    expect(page).not.toContain('name="failed"');
    const counts = page.slice(page.indexOf('<table class="table counts">'), page.indexOf("</table>"));
    const heads = [...counts.matchAll(/<th class="num"><span class="badge status-(\w+)">/g)].map((m) => m[1]);
    expect(heads).toEqual(["reserved", "queued", "running", "finished", "failed", "canceled"]);
    const cells = [...counts.matchAll(/<td class="num">(\d+)<\/td>/g)].map((m) => Number(m[1]));
    expect(cells).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it("serve the stylesheet and script with an ETag", async () => {
    const { get } = setup();
    const js = await get("/assets/dashboard.js", null);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    const etag = js.headers.get("etag")!;
    expect((await get("/assets/dashboard.js", null, { "if-none-match": etag })).status).toBe(304);
    expect((await get("/assets/dashboard.css", null)).headers.get("content-type")).toContain("text/css");
    expect((await get("/assets/nothing.js", null)).status).toBe(404);
  });

  it("list schedules with their runs for admins, and pause, resume and remove them from forms (remove after its confirm page)", async () => {
    const { tl, get, postForm } = setup();
    const schedule = await tl.schedules.schedule({
      key: "tick",
      task: echo,
      description: "every minute",
      every: 60_000,
    });
    expect((await get("/admin/schedules", "alice")).status).toBe(403);
    const list = await (await get("/admin/schedules", "root")).text();
    expect(list).toContain(">tick</a>");
    expect(list).toContain("every 1 min");
    const paused = await postForm(`/admin/schedules/${schedule.id}/pause`, "root", { _csrf: token("root") });
    expect(paused.status).toBe(303);
    expect((await tl.schedules.get(schedule.id))?.pausedAt).not.toBeNull();
    await postForm(`/admin/schedules/${schedule.id}/resume`, "root", { _csrf: token("root") });
    expect((await tl.schedules.get(schedule.id))?.pausedAt).toBeNull();
    expect(
      (await postForm(`/admin/schedules/${schedule.id}/remove`, "alice", { _csrf: token("alice") })).status,
    ).toBe(403);
    // Without the confirm page's field, a remove only leads there.
    const asked = await postForm(`/admin/schedules/${schedule.id}/remove`, "root", { _csrf: token("root") });
    expect(asked.headers.get("location")).toBe(`/admin/schedules/${schedule.id}/remove`);
    expect(await tl.schedules.get(schedule.id)).toBeDefined();
    const confirm = await (await get(`/admin/schedules/${schedule.id}/remove`, "root")).text();
    expect(confirm).toContain(
      "Removing schedule <strong>tick</strong> (every 1 min) deletes it with no runs.",
    );
    expect(confirm).toContain('<input type="hidden" name="confirm" value="remove">');
    expect(confirm).toContain(`<a class="button ghost" href="/admin/schedules/${schedule.id}">Keep it</a>`);
    expect((await get(`/admin/schedules/${schedule.id}/remove`, "alice")).status).toBe(403);
    const removed = await postForm(`/admin/schedules/${schedule.id}/remove`, "root", {
      _csrf: token("root"),
      confirm: "remove",
    });
    expect(await tl.schedules.get(schedule.id)).toBeUndefined();
    const cookie = removed.headers.get("set-cookie")!.split(";")[0]!;
    expect(await (await get("/admin/schedules", "root", { cookie })).text()).toContain(
      "Schedule tick is removed, with no runs.",
    );
  });
});

describe("queues nobody serves", () => {
  it("are flagged on the admin page and in /api/status until a live worker takes from them", async () => {
    const release = gate();
    const held = defineTask({ name: "held", retry: 0, run: () => release.promise });
    const clock = new ManualClock();
    const { tl } = openLedger({ tasks: [held], queues: ["default", "reports"], clock });
    const dashboard = createDashboardHandler(tl, { authenticate: testAuthenticate, secret: SECRET });
    dashboards.push(dashboard);
    const as = (user: string, path: string) =>
      dashboard(new Request(`${ORIGIN}${path}`, { headers: { "x-test-user": user } }));
    const unserved = async (user = "root") => (await (await as(user, "/api/status")).json()).unservedQueues;
    const warnings = async () =>
      [
        ...(await (await as("root", "/admin")).text()).matchAll(
          /<p class="notice" role="alert"[^>]*>.*?<\/p>/g,
        ),
      ].map((m) => m[0]);

    const options = { description: "a report", owner: "alice", queue: "reports" };
    await tl.tasks.enqueue(held, null, options);
    await tl.tasks.reserve(clock.now() + 60_000, held, null, options);
    await tl.tasks.reserve(clock.now() + 3_600_000, held, null, options);
    clock.advance(61_000); // the first reservation is due, the second is not

    expect(await unserved()).toEqual([{ queue: "reports", waiting: 2 }]);
    expect(await unserved("alice")).toEqual([{ queue: "reports", waiting: 2 }]);
    expect(await unserved("bob")).toEqual([]);
    expect(await warnings()).toEqual([
      '<p class="notice" role="alert" data-unserved-queue="reports"><strong>Queue reports</strong>: 2 tasks waiting, and no live worker serves it. Start one with <code>taskledger worker --queues reports</code>.</p>',
    ]);

    const elsewhere = tl.createWorker({ queues: ["default"] });
    await elsewhere.start();
    expect((await tl.status()).workers).toHaveLength(1);
    expect(await unserved()).toEqual([{ queue: "reports", waiting: 2 }]);

    const reports = tl.createWorker({ queues: ["reports"], concurrency: 1 });
    await reports.start();
    await waitFor(async () => (await tl.tasks.list({ status: "running" })).length === 1, {
      message: "one report running",
    });
    expect(await tl.tasks.list({ queue: "reports", status: "queued" })).toHaveLength(1);
    expect(await unserved()).toEqual([]);
    expect(await warnings()).toEqual([]);
    release.open();
  });
});

describe("schedules in the API", () => {
  it("show users their own schedules only; only admins change them", async () => {
    const { tl, dashboard } = setup();
    await tl.schedules.schedule({
      key: "alice-digest",
      task: echo,
      description: "digest",
      every: 3_600_000,
      owner: "alice",
    });
    const system = await tl.schedules.cron({
      key: "nightly",
      task: echo,
      description: "nightly",
      cron: "0 3 * * *",
      tz: "Europe/Paris",
    });
    const call = (method: string, path: string, user: string) =>
      dashboard(
        new Request(`${ORIGIN}${path}`, {
          method,
          headers: { "x-test-user": user, "sec-fetch-site": "same-origin" },
        }),
      );

    const mine = await (await call("GET", "/api/schedules", "alice")).json();
    expect(mine.schedules.map((s: { key: string }) => s.key)).toEqual(["alice-digest"]);
    expect(mine.schedules[0].runs).toEqual([]);
    const all = await (await call("GET", "/api/schedules", "root")).json();
    expect(all.schedules.map((s: { key: string }) => s.key)).toEqual(["alice-digest", "nightly"]);
    expect((await call("GET", `/api/schedules/${system.id}`, "alice")).status).toBe(404);
    const one = await (await call("GET", "/api/schedules/nightly", "root")).json();
    expect(one).toMatchObject({
      key: "nightly",
      type: "cron",
      cron: "0 3 * * *",
      tz: "Europe/Paris",
      runs: [],
    });
    expect(typeof one.nextRunAt).toBe("string");

    expect((await call("POST", `/api/schedules/${system.id}/pause`, "alice")).status).toBe(404);
    expect((await call("POST", "/api/schedules/alice-digest/pause", "alice")).status).toBe(403);
    const paused = await (await call("POST", `/api/schedules/${system.id}/pause`, "root")).json();
    expect(paused.pausedAt).not.toBeNull();
    expect(
      (await (await call("POST", `/api/schedules/${system.id}/resume`, "root")).json()).pausedAt,
    ).toBeNull();
    expect((await call("DELETE", `/api/schedules/${system.id}`, "root")).status).toBe(200);
    expect(await tl.schedules.get(system.id)).toBeUndefined();

    const status = await (await call("GET", "/api/status", "alice")).json();
    expect(status.scheduler).toEqual({ running: false, lastSeenAt: null });
  });
});
