// @ts-check
// taskledger in a Hono app: the dashboard and its HTTP API under /taskledger, beside the app's own
// routes. Both speak web Request/Response, so the dashboard is called as it is. Needs `hono` and
// `@hono/node-server`. Run: node examples/embedding/hono.mjs (PORT, default 3000).
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createDashboardHandler } from "taskledger/dashboard";
import { basePath, dashboardOptions, host, logIn, loginPage, port, stopOnSignal, tl } from "./ledger.mjs";

const dashboard = createDashboardHandler(tl, dashboardOptions);
const app = new Hono();

// Pages, assets and the API: the raw Request goes to taskledger, its body unread.
app.all(`${basePath}/*`, (c) => dashboard(c.req.raw));

app.get("/login", (c) => c.html(loginPage(c.req.query("next"))));
app.post("/login", async (c) => {
  const login = logIn(await c.req.parseBody());
  if (!login) return c.redirect("/login", 303);
  c.header("set-cookie", login.cookie);
  return c.redirect(login.location, 303);
});

const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
  console.log(`listening on http://${host}:${info.port}${basePath}/`);
});
stopOnSignal(dashboard, /** @type {import("node:http").Server} */ (server));
