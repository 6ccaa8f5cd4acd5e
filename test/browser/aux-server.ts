import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A second web server for the browser tests, on another port (so another origin): it serves the
 * RSS feed the demo's schedule fetches, and an attacker's page that posts to the demo.
 */
export interface AuxServer {
  readonly port: number;
  close(): Promise<void>;
}

const FEED = `<?xml version="1.0"?>
<rss version="2.0"><channel><title>taskledger test feed</title>
<item><title>First headline</title></item>
<item><title>Second headline</title></item>
<item><title>Third headline</title></item>
</channel></rss>`;

function evilPage(target: string, task: string): string {
  const form = `${target}/tasks/${task}/cancel`;
  const api = `${target}/api/tasks/${task}/cancel`;
  return `<!doctype html><html><body>
<h1>You won a prize</h1>
<form id="evil" method="post" action="${form}"><input type="hidden" name="return_to" value="/"><button id="claim">Claim</button></form>
<script>
window.fireApi = () => fetch(${JSON.stringify(api)}, { method: "POST", mode: "no-cors", credentials: "include",
  headers: { "content-type": "text/plain" }, body: "{}" }).then(() => "sent", (e) => String(e));
</script>
</body></html>`;
}

export async function startAux(): Promise<AuxServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://aux");
    if (url.pathname === "/feed.xml") {
      res.writeHead(200, { "content-type": "application/rss+xml" }).end(FEED);
    } else if (url.pathname === "/evil") {
      const page = evilPage(url.searchParams.get("target") ?? "", url.searchParams.get("task") ?? "");
      res.writeHead(200, { "content-type": "text/html" }).end(page);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
