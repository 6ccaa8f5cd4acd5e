import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { isUnmatched } from "./handler.js";

/** Any fetch-style handler (the API, the dashboard, a host app's). */
export type FetchHandler = ((request: Request) => Response | Promise<Response>) & { close?(): void };

type Next = (error?: unknown) => void;

/**
 * Serve a fetch-style handler from `node:http` — and from Express or Connect, whose middleware
 * signature this is: a path the handler does not know goes on to `next()`.
 *
 * ```ts
 * http.createServer(toNodeHandler(api)).listen(3000);
 * app.use(toNodeHandler(api)); // Express: mount before body parsers
 * ```
 */
export function toNodeHandler(handler: FetchHandler) {
  return (req: IncomingMessage, res: ServerResponse, next?: Next): void => {
    void respond(handler, req, res, next).catch((error) => {
      if (next) return next(error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error");
    });
  };
}

async function respond(handler: FetchHandler, req: IncomingMessage, res: ServerResponse, next?: Next) {
  const aborter = new AbortController();
  res.once("close", () => aborter.abort());
  const response = await handler(toRequest(req, aborter.signal));
  if (next && isUnmatched(response)) return next();
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  if (!response.body || req.method === "HEAD") {
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  aborter.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await drained(res);
    }
  } catch {
    // the client went away mid-stream
  }
  res.end();
}

/**
 * Resolves once `res` takes more (or is gone). Both listeners go when either fires: a stream that
 * waits at every write for a slow client would otherwise gather one 'close' listener per wait.
 */
function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done).off("close", done);
      resolve();
    };
    res.on("drain", done).on("close", done);
  });
}

/** The Node request as a web `Request` (the URL from the Host header; the body streamed). */
function toRequest(req: IncomingMessage & { originalUrl?: string }, signal: AbortSignal): Request {
  const host = req.headers.host ?? "localhost";
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  const url = new URL(req.originalUrl ?? req.url ?? "/", `${secure ? "https" : "http"}://${host}`);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  // Node needs `duplex: "half"` for a streamed body; its RequestInit typing lacks it.
  const init = {
    method,
    headers,
    signal,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    duplex: hasBody ? "half" : undefined,
  } as RequestInit;
  return new Request(url, init);
}

export interface ServeOptions {
  /** Default 3000; 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
}

export interface RunningServer {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** Ends event streams, then stops accepting and closes idle connections. */
  close(): Promise<void>;
}

/** Listen with `node:http` (what `taskledger start` and `taskledger web` do). */
export async function serve(handler: FetchHandler, options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer(toNodeHandler(handler));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3000, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    server,
    port,
    url: `http://${shown}:${port}`,
    async close() {
      handler.close?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const forced = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(forced);
    },
  };
}
