import { invalid } from "../../core/errors.js";
import { type FetchHandler, serve } from "../../http/node.js";
import type { Taskledger } from "../../taskledger.js";
import type { Command, Flags } from "../command.js";
import type { LoadedConfig } from "../config.js";
import { color } from "../output.js";
import { type Service, untilSignal } from "../serve.js";

/**
 * The config's `web` key: what `taskledger start` and `taskledger web` serve.
 *
 * ```js
 * export default defineConfig({ tasks, web: { handler: (tl) => createDashboardHandler(tl, { authenticate }) } });
 * ```
 */
export interface WebConfig {
  /** Build the fetch-style handler to serve (the API, the dashboard, the host app's pages). */
  readonly handler: (tl: Taskledger) => FetchHandler | Promise<FetchHandler>;
  /** Default port when neither `--port` nor `PORT` is given. Default 3000. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
}

export const WEB_OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
} as const;

function webConfig(loaded: LoadedConfig): WebConfig | undefined {
  const web = loaded.config.web as WebConfig | undefined;
  if (web === undefined) return undefined;
  if (typeof web !== "object" || web === null || typeof web.handler !== "function") {
    throw invalid("web", `${loaded.path}: web must be { handler: (tl) => fetch handler, port?, host? }`);
  }
  return web;
}

function parsePort(value: unknown, field: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw invalid(field, `must be a port number 0–65535 (got ${String(value)})`);
  return port;
}

/** Serve the config's web app; `undefined` when the config has none. */
export async function startWeb(
  tl: Taskledger,
  loaded: LoadedConfig,
  flags: Flags,
): Promise<(Service & { readonly url: string }) | undefined> {
  const web = webConfig(loaded);
  if (!web) return undefined;
  const port =
    flags.port !== undefined
      ? parsePort(flags.port, "port")
      : process.env.PORT
        ? parsePort(process.env.PORT, "PORT")
        : (web.port ?? 3000);
  const host = typeof flags.host === "string" ? flags.host : (web.host ?? "127.0.0.1");
  const handler = await web.handler(tl);
  const server = await serve(handler, { port, host });
  // Tasks in this process can reach the app they are served beside (the demo's feed, links in mails).
  process.env.TASKLEDGER_WEB_URL ??= server.url;
  return { name: "web", url: server.url, stop: () => server.close() };
}

export const webCommand: Command = {
  name: "web",
  summary: "serve the config's web app (API, dashboard) until SIGTERM/SIGINT",
  usage: [
    "Usage: taskledger web [--port N] [--host ADDRESS]",
    "",
    "  --port N         port to listen on (default $PORT, else the config's web.port, else 3000)",
    "  --host ADDRESS   address to listen on (default 127.0.0.1)",
    "",
    "Serves the config's `web` handler without running tasks; run `taskledger worker` beside it.",
  ].join("\n"),
  options: WEB_OPTIONS,
  async run({ flags, out, open }) {
    const { tl, loaded } = await open();
    const web = await startWeb(tl, loaded, flags);
    if (!web)
      throw invalid("web", `${loaded.path} has no web key: add web: { handler: (tl) => … } to serve pages`);
    // Listen before the banner: whoever sends a signal on seeing it gets a graceful stop.
    const stopped = untilSignal(out, [web]);
    if (out.json) out.data({ url: web.url, database: tl.ledger.location, config: loaded.path });
    else
      out.line(
        `${color.bold("taskledger web")} listening on ${color.green(web.url)} · config ${loaded.path}`,
      );
    return stopped;
  },
};
