import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskledger } from "../../src/index.js";
import { type DemoServer, startDemo } from "../browser/demo-server.js";
import { waitFor } from "../helpers/index.js";

/**
 * The mailer demo over plain HTTP (the browser suite drives it in Chromium): `taskledger start`
 * serves it with a worker; `taskledger web` serves it without one.
 */
const servers: DemoServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

/** A browser's cookie jar, in short: the session and the flash messages. */
function session(url: string) {
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
  const request = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${url}${path}`, {
      ...init,
      redirect: "manual",
      headers: { cookie: cookie(), origin: url },
    });
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const [name, value] = [pair!.slice(0, pair!.indexOf("=")), pair!.slice(pair!.indexOf("=") + 1)];
      if (/Max-Age=0/.test(set)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  /** The form token on the page a form is on. */
  const token = async (path: string) => {
    const page = await (await request(path === "/login" ? "/login" : "/")).text();
    return /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
  };
  const post = (path: string, fields: Record<string, string>) =>
    request(path, { method: "POST", body: new URLSearchParams(fields) });
  const form = async (path: string, fields: Record<string, string>) =>
    post(path, { _csrf: await token(path), ...fields });
  return { request, form, token, post, cookie };
}

describe("the mailer demo over HTTP", () => {
  it("taskledger start: log in, send a mail, see it finished and in the mailbox; bad input is a message", async () => {
    const server = await startDemo({ MAILER_STEP_MS: "0", MAILER_RESERVATION_LEAD_SECONDS: "30" });
    servers.push(server);
    await waitFor(() => server.output().includes(`Open ${server.url} in a browser`), {
      message: "the start banner",
    });
    const alice = session(server.url);
    expect((await alice.request("/")).headers.get("location")).toBe("/login?next=%2F");
    const login = await alice.form("/login", { username: "alice", next: "/" });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/");

    const sent = await alice.form("/mail", { recipient: "friend@example.com", template_name: "report" });
    expect(sent.headers.get("location")).toBe("/");
    const tl = createTaskledger({ database: server.database, tasks: [] });
    try {
      const [task] = await tl.tasks.list({ owner: "alice" });
      expect(task).toMatchObject({
        name: "send_async_mail",
        description: "Mail to friend@example.com with the report template",
      });
      await waitFor(async () => (await tl.tasks.get(task!.id))?.status === "finished", {
        message: "the mail task",
      });
      const mailbox = readdirSync(join(server.dataDir, "mailbox")).filter((f) => f.endsWith(".eml"));
      expect(mailbox).toHaveLength(1);
      const raw = readFileSync(join(server.dataDir, "mailbox", mailbox[0]!), "utf8");
      expect(raw).toContain("Subject: Your task report");
      expect(raw).toContain(`X-Taskledger-Task: ${task!.id}`);
      const page = await (await alice.request("/mailbox")).text();
      expect(page).toContain("Your task report");

      await alice.form("/mail", {
        recipient: "x@example.com",
        template_name: "welcome",
        is_scheduled: "1",
        scheduled_at: new Date(Date.now() + 5_000).toISOString(),
      });
      expect(await (await alice.request("/")).text()).toContain(
        "A reservation must be at least 30 seconds from now.",
      );
      expect(await (await alice.request("/")).text()).not.toContain("A reservation must be");
      expect((await tl.tasks.list({ owner: "alice" })).length).toBe(1);
    } finally {
      await tl.close();
    }
    const other = session(server.url);
    await other.form("/login", { username: "mallory", next: "/" });
    expect((await other.request("/mailbox")).status).toBe(200);
    expect(await (await other.request("/mailbox")).text()).not.toContain("Your task report");
  });

  it("taskledger web: serves the pages and the API without running tasks", async () => {
    const server = await startDemo({}, ["web"]);
    servers.push(server);
    await waitFor(() => server.output().includes(`taskledger web listening on ${server.url}`), {
      message: "the banner",
    });
    const health = await (await fetch(`${server.url}/api/health`)).json();
    expect(health).toMatchObject({ ok: true, engine: "embedded" });
    expect((await fetch(`${server.url}/api/tasks`)).status).toBe(401);
    const alice = session(server.url);
    await alice.form("/login", { username: "alice", next: "/" });
    await alice.form("/words", { source: "one two three" });
    const tl = createTaskledger({ database: server.database, tasks: [] });
    try {
      const [task] = await tl.tasks.list({ owner: "alice" });
      expect(task?.status).toBe("queued");
      const api = await (await alice.request(`/api/tasks/${task!.id}`)).json();
      expect(api).toMatchObject({ id: task!.id, status: "queued", payload: "one two three" });
    } finally {
      await tl.close();
    }
  });

  it("logout ends the session for every copy of its cookie; each login has its own form token", async () => {
    const server = await startDemo({}, ["web"]);
    servers.push(server);
    const tl = createTaskledger({ database: server.database, tasks: [] });
    try {
      const alice = session(server.url);
      await alice.form("/login", { username: "alice", next: "/" });
      const firstToken = await alice.token("/words");
      const copied = alice.cookie();
      const elsewhere = session(server.url);
      await elsewhere.form("/login", { username: "alice", next: "/" });
      expect(await elsewhere.token("/words")).not.toBe(firstToken);

      const out = await alice.post("/logout", { _csrf: firstToken });
      expect(out.headers.get("location")).toBe("/login");
      const replay = (path: string, init: RequestInit = {}) =>
        fetch(`${server.url}${path}`, {
          ...init,
          redirect: "manual",
          headers: { cookie: copied, origin: server.url },
        });
      expect((await replay("/")).headers.get("location")).toBe("/login?next=%2F");
      expect((await replay("/api/tasks")).status).toBe(401);
      const posted = await replay("/words", {
        method: "POST",
        body: new URLSearchParams({ _csrf: firstToken, source: "after logout" }),
      });
      expect(posted.headers.get("location")).toBe("/login");
      expect((await elsewhere.request("/api/tasks")).status).toBe(200); // another login of alice lives on

      await alice.form("/login", { username: "alice", next: "/" });
      const secondToken = await alice.token("/words");
      expect(secondToken).not.toBe(firstToken);
      const stale = await alice.post("/words", { _csrf: firstToken, source: "an old page" });
      expect(stale.status).toBe(403);
      expect(await tl.tasks.list({ owner: "alice" })).toEqual([]);
      const fresh = await alice.post("/words", { _csrf: secondToken, source: "a new page" });
      expect(fresh.headers.get("location")).toBe("/");
      expect((await tl.tasks.list({ owner: "alice" })).map((t) => t.payload)).toEqual(["a new page"]);
    } finally {
      await tl.close();
    }
  });
});
