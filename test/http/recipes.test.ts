import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, spawnProcess, untilOutput } from "../cli/cli.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { codeBlocks } from "../helpers/markdown.js";

/**
 * The embedding recipes of docs/embedding.md, each run as written — `node examples/embedding/X.mjs`
 * with PORT=0, in an empty directory — and asked over HTTP for the API's health, an authenticated
 * API call (a task enqueued, then run by the recipe's own worker) and a dashboard page. A recipe
 * whose framework is not installed is skipped, saying so, unless TASKLEDGER_TEST_STRICT=1.
 */
const STRICT = process.env.TASKLEDGER_TEST_STRICT === "1";
const RECIPES = {
  express: ["express"],
  fastify: ["fastify"],
  hono: ["hono", "@hono/node-server"],
} as const;

/** Packages not found where Node looks from the recipes' folder (each node_modules up the tree). */
function missingPackages(packages: readonly string[]): string[] {
  const folders: string[] = [];
  for (let dir = join(REPO, "examples", "embedding"); ; dir = dirname(dir)) {
    folders.push(join(dir, "node_modules"));
    if (dirname(dir) === dir) break;
  }
  return packages.filter((name) => !folders.some((folder) => existsSync(join(folder, name, "package.json"))));
}

describe.each(Object.entries(RECIPES))("examples/embedding/%s.mjs", (recipe, packages) => {
  const missing = missingPackages(packages);
  if (missing.length > 0 && !STRICT) {
    process.stderr.write(
      `\n*** ${recipe} recipe skipped: ${missing.join(", ")} not installed (npm install -D ${missing.join(" ")}) ***\n\n`,
    );
  }

  it("serves /api/health, the API to a logged-in user and the dashboard's pages; stops on SIGTERM", async (ctx) => {
    if (missing.length > 0) {
      if (!STRICT) return ctx.skip(`${missing.join(", ")} not installed`);
      throw new Error(`${missing.join(", ")} not installed; TASKLEDGER_TEST_STRICT=1 forbids skipping`);
    }
    const dir = tempDir(`tl-recipe-${recipe}-`);
    const proc = spawnProcess(process.execPath, [join(REPO, "examples", "embedding", `${recipe}.mjs`)], {
      cwd: dir,
      database: null,
      env: { PORT: "0" },
    });
    await untilOutput(proc, /listening on http:\/\/\S+\/taskledger\/\n/);
    const home = /listening on (\S+)/.exec(proc.stdout())![1]!;
    const origin = new URL(home).origin;

    const health = await fetch(`${origin}/taskledger/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, engine: "embedded" });
    expect((await fetch(`${origin}/taskledger/api/tasks`)).status).toBe(401);

    // The host app's login, then the API and the pages with its cookie.
    const login = await fetch(`${origin}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ user: "alice", next: "/taskledger/admin" }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/taskledger/admin");
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;

    const created = await fetch(`${origin}/taskledger/api/tasks`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ task: "count_words", payload: "one two three", description: `from ${recipe}` }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const { id } = await created.json();
    const done = await waitFor(
      async () => {
        const task = await (
          await fetch(`${origin}/taskledger/api/tasks/${id}`, { headers: { cookie } })
        ).json();
        return task.status === "finished" ? task : undefined;
      },
      { message: "the recipe's worker to finish the task" },
    );
    expect(done).toMatchObject({ owner: "alice", failed: false, result: { words: 3 } });

    const page = await fetch(`${origin}/taskledger/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`from ${recipe}`);
    expect(html).toContain('href="/taskledger/assets/dashboard.css"');
    expect((await fetch(`${origin}/taskledger/assets/dashboard.css`)).status).toBe(200);
    const detail = await fetch(`${origin}/taskledger/tasks/${id}`, { headers: { cookie } });
    expect(detail.status).toBe(200);
    expect(await detail.text()).toContain("&quot;words&quot;: 3");

    const anonymous = await fetch(`${origin}/taskledger/`, { redirect: "manual" });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toBe("/login?next=%2Ftaskledger%2F");
    expect((await fetch(`${origin}/login?next=%2Ftaskledger%2F`)).status).toBe(200);

    // Live updates stream through the framework; an open stream does not hold up the stop.
    const events = await fetch(`${origin}/taskledger/api/events?after=0`, { headers: { cookie } });
    expect(events.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const reader = events.body!.getReader();
    let received = "";
    while (!received.includes('"name":"task_finished"')) {
      const { done: ended, value } = await reader.read();
      if (ended) throw new Error(`the event stream ended early:\n${received}`);
      received += new TextDecoder().decode(value);
    }
    expect(received).toContain(`"taskId":${id}`);

    proc.child.kill("SIGTERM");
    const exited = await proc.done;
    expect(exited.code, exited.stderr).toBe(0);
    expect((await reader.read()).done).toBe(true);
  });
});

describe("docs/embedding.md", () => {
  it("quotes the recipes as they are: each block marked `// from FILE` is a piece of that file", () => {
    const doc = readFileSync(join(REPO, "docs", "embedding.md"), "utf8");
    const quotes = codeBlocks(doc, "js").filter((block) => block.startsWith("// from "));
    expect(quotes.length).toBeGreaterThanOrEqual(5);
    for (const quote of quotes) {
      const [first, ...rest] = quote.split("\n");
      const file = readFileSync(join(REPO, first!.slice("// from ".length)), "utf8");
      expect(file, first).toContain(rest.join("\n"));
    }
  });
});
