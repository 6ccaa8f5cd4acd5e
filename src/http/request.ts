import { invalid } from "../core/errors.js";
import { HttpError } from "./errors.js";
import { securityHeaders } from "./security.js";

/** Reading requests and writing JSON responses. */

/** Room in a request body for what surrounds the payload (task, description, runAt, queue). */
const ENVELOPE_BYTES = 64 * 1024;

/** The default body limit: the largest payload (`maxJsonBytes`) and room for the rest of the body. */
export function defaultMaxBodyBytes(maxJsonBytes: number): number {
  return maxJsonBytes + ENVELOPE_BYTES;
}

/** The body as bytes, refusing more than `maxBytes` (413) before reading it all. */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "payload_too_large", `request body is larger than ${maxBytes} bytes`);
}

/** A JSON object body (415 for another content type, 400 for bad JSON). */
export async function readJsonObject(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/([a-z.+-]*\+)?json\s*(;|$)/i.test(type)) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      "send a JSON body with content-type: application/json",
    );
  }
  const text = new TextDecoder().decode(await readBody(request, maxBytes));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid("body", "is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid("body", "must be a JSON object");
  return value as Record<string, unknown>;
}

/** An optional positive integer query parameter. */
export function queryInt(url: URL, name: string, min = 1): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min) {
    throw invalid(name, `must be an integer ≥ ${min} (got "${raw}")`);
  }
  return value;
}

/** An optional non-empty string query parameter. */
export function queryString(url: URL, name: string): string | undefined {
  const raw = url.searchParams.get(name);
  return raw === null || raw.trim() === "" ? undefined : raw.trim();
}

export function json(status: number, body: unknown, init: Record<string, string> = {}): Response {
  const headers = securityHeaders(new Headers(init), "data");
  headers.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers });
}
