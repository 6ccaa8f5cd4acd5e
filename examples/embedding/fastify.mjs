// @ts-check
// taskledger in a Fastify app: the dashboard and its HTTP API under /taskledger, beside the app's
// own routes. Run: node examples/embedding/fastify.mjs (PORT, default 3000).
import Fastify from "fastify";
import { createDashboardHandler } from "taskledger/dashboard";
import { toNodeHandler } from "taskledger/http";
import { basePath, dashboardOptions, host, logIn, loginPage, port, stopOnSignal, tl } from "./ledger.mjs";

const dashboard = createDashboardHandler(tl, dashboardOptions);
const handle = toNodeHandler(dashboard);
const app = Fastify();

// taskledger reads its own request bodies: in this scope Fastify leaves them unread, and hands
// over the raw request and response — pages, assets and the API alike.
await app.register(async (scope) => {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
  for (const path of [basePath, `${basePath}/*`]) {
    scope.all(path, (request, reply) => {
      reply.hijack();
      handle(request.raw, reply.raw);
    });
  }
});

app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) =>
  done(null, Object.fromEntries(new URLSearchParams(String(body)))),
);
app.get("/login", async (request, reply) =>
  reply.type("text/html").send(loginPage(/** @type {{ next?: string }} */ (request.query).next)),
);
app.post("/login", async (request, reply) => {
  const login = logIn(/** @type {Record<string, string>} */ (request.body));
  if (!login) return reply.redirect("/login", 303);
  return reply.header("set-cookie", login.cookie).redirect(login.location, 303);
});

const address = await app.listen({ port, host });
console.log(`listening on ${address}${basePath}/`);
stopOnSignal(dashboard, app.server, () => app.close());
