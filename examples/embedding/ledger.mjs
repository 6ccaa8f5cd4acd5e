// @ts-check
// What the three recipes (express.mjs, fastify.mjs, hono.mjs) share: the ledger with one task, a
// worker in the web process, how taskledger learns who is asking, and a clean stop. Only the
// mounting differs from one framework to the next.
import { randomBytes } from "node:crypto";
import { createTaskledger, defineTask } from "taskledger";
import { escapeHtml, safeReturn } from "taskledger/dashboard";
import { readCookies, serializeCookie, sign, unsign } from "taskledger/http";

export const countWords = defineTask({
  name: "count_words",
  /** @param {string} text */
  async run(text, ctx) {
    const words = String(text).split(/\s+/).filter(Boolean);
    await ctx.setProgress(50);
    return { words: words.length };
  },
});

// The ledger: TASKLEDGER_DATABASE_URL, else ./taskledger.db (created 0600).
export const tl = createTaskledger({ tasks: [countWords] });

// A worker in this process; more can run beside it on the same file (`npx taskledger worker`).
export const worker = tl.createWorker({ concurrency: 4 });
await worker.start();

export const port = Number(process.env.PORT ?? 3000);
export const host = process.env.HOST ?? "127.0.0.1";
/** Where the dashboard and its API are mounted: pages at /taskledger/, the API at /taskledger/api/. */
export const basePath = "/taskledger";

// Who is asking. Here, a signed cookie set by the login route below, which takes any name; your
// app already knows its users: read its session the same way, from the web Request.
const secret = process.env.SESSION_SECRET ?? randomBytes(32).toString("base64url");
const admins = new Set((process.env.ADMINS ?? "admin").split(","));

/** taskledger's `authenticate`: `{ user, admin }` for a logged-in request, else null. */
export function authenticate(/** @type {Request} */ request) {
  const user = unsign(secret, "user", readCookies(request).get("user"));
  return user ? { user, admin: admins.has(user) } : null;
}

/** The dashboard's options: the same for every framework. */
export const dashboardOptions = { authenticate, basePath, loginPath: "/login", secret };

/** The login page (GET /login): `next` is where the dashboard sent the visitor from. */
export function loginPage(/** @type {unknown} */ next) {
  return `<!doctype html><title>Log in</title>
<form method="post" action="/login">
  <input type="hidden" name="next" value="${escapeHtml(safeReturn(next, `${basePath}/`))}">
  <label>Name <input name="user" required autofocus></label> <button>Log in</button>
</form>`;
}

/** POST /login: the cookie to set and where to go, or null for an empty name. */
export function logIn(/** @type {{ user?: unknown, next?: unknown }} */ form) {
  const user = typeof form.user === "string" ? form.user.trim() : "";
  if (!user) return null;
  return {
    cookie: serializeCookie("user", sign(secret, "user", user)),
    location: safeReturn(form.next, `${basePath}/`),
  };
}

/**
 * On SIGTERM or SIGINT: end the dashboard's event streams, stop taking requests, let running tasks
 * finish within the worker's grace period (10 s by default; the rest go back to the queue), then
 * close the ledger. `close` stops the server (default `server.close()`).
 */
export function stopOnSignal(
  /** @type {{ close(): void }} */ dashboard,
  /** @type {import("node:http").Server} */ server,
  close = () => new Promise((resolve) => server.close(resolve)),
) {
  const stop = async () => {
    dashboard.close();
    const closed = close();
    // The connections of the streams just ended are idle a moment later; left open, they would
    // hold the close until their keep-alive timeout.
    setImmediate(() => server.closeIdleConnections());
    await closed;
    await worker.stop();
    await tl.close();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
