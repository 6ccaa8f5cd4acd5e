// @ts-check
// taskledger in an Express app: the dashboard and its HTTP API under /taskledger, beside the
// app's own routes. Run: node examples/embedding/express.mjs (PORT, default 3000).
import express from "express";
import { createDashboardHandler } from "taskledger/dashboard";
import { toNodeHandler } from "taskledger/http";
import { basePath, dashboardOptions, host, logIn, loginPage, port, stopOnSignal, tl } from "./ledger.mjs";

const dashboard = createDashboardHandler(tl, dashboardOptions);
const app = express();

// taskledger reads its own request bodies: mount it before any body parser. A path it does not
// know goes on to the next route.
app.use(basePath, toNodeHandler(dashboard));

app.use(express.urlencoded({ extended: false }));
app.get("/login", (req, res) => {
  res.type("html").send(loginPage(req.query.next));
});
app.post("/login", (req, res) => {
  const login = logIn(req.body);
  if (!login) return res.redirect(303, "/login");
  res.setHeader("set-cookie", login.cookie).redirect(303, login.location);
});

const server = app.listen(port, host, () => {
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  console.log(`listening on http://${host}:${address.port}${basePath}/`);
});
stopOnSignal(dashboard, server);
