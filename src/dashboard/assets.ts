import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { securityHeaders } from "../http/security.js";

/** The dashboard's stylesheet and script: two static files, read once, served with an ETag. */
const TYPES: Record<string, string> = {
  "dashboard.css": "text/css; charset=utf-8",
  "dashboard.js": "text/javascript; charset=utf-8",
};

interface Asset {
  readonly body: Uint8Array;
  readonly etag: string;
  readonly type: string;
}

const cache = new Map<string, Asset>();

function load(name: string): Asset | undefined {
  const type = TYPES[name];
  if (!type) return undefined;
  let asset = cache.get(name);
  if (!asset) {
    const body = readFileSync(new URL(`./static/${name}`, import.meta.url));
    asset = { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` };
    cache.set(name, asset);
  }
  return asset;
}

export function serveAsset(name: string, request: Request): Response | undefined {
  const asset = load(name);
  if (!asset) return undefined;
  const headers = securityHeaders(new Headers({ "cache-control": "no-cache", etag: asset.etag }), "data");
  if (request.headers.get("if-none-match") === asset.etag)
    return new Response(null, { status: 304, headers });
  headers.set("content-type", asset.type);
  return new Response(asset.body, { status: 200, headers });
}
