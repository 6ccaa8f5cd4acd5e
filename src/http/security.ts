import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { invalid } from "../core/errors.js";
import type { Principal } from "./auth.js";
import { HttpError } from "./errors.js";

/**
 * Web security in one place: which requests may change state, the signed values (form tokens,
 * cookies) and the headers every response carries.
 */

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * True when a browser sent this request from another site. Browsers say so in `Sec-Fetch-Site`;
 * older ones only send `Origin`, which must then be this server's (or a trusted) origin. A
 * request with neither header comes from a non-browser client, which no other site can forge.
 */
export function isCrossSite(request: Request, trustedOrigins: readonly string[] = []): boolean {
  const site = request.headers.get("sec-fetch-site");
  const origin = request.headers.get("origin");
  if (origin !== null && trustedOrigins.includes(origin)) return false;
  if (site !== null) return site !== "same-origin" && site !== "none";
  if (origin === null) return false;
  return origin !== new URL(request.url).origin;
}

/** Refuse a state-changing request sent from another site (403, nothing done). */
export function assertSameOrigin(request: Request, trustedOrigins?: readonly string[]): void {
  if (!isSafeMethod(request.method) && isCrossSite(request, trustedOrigins)) {
    throw new HttpError(403, "forbidden", "cross-site request refused");
  }
}

/** A secret for signing; random per process when the host app gives none (tokens then last until restart). */
export function resolveSecret(secret: string | undefined): string {
  if (secret === undefined) return randomBytes(32).toString("base64url");
  if (typeof secret !== "string" || secret.length < 16) {
    throw invalid("secret", "must be a string of at least 16 characters");
  }
  return secret;
}

function mac(secret: string, purpose: string, value: string): string {
  return createHmac("sha256", secret).update(`${purpose}\0${value}`).digest("base64url");
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `value.signature`, for cookies: readable, but not forgeable without the secret. */
export function sign(secret: string, purpose: string, value: string): string {
  return `${value}.${mac(secret, purpose, value)}`;
}

/** The value of a signed string, or `undefined` when the signature does not match. */
export function unsign(secret: string, purpose: string, signed: string | undefined): string | undefined {
  if (!signed) return undefined;
  const dot = signed.lastIndexOf(".");
  if (dot < 0) return undefined;
  const value = signed.slice(0, dot);
  return equal(signed.slice(dot + 1), mac(secret, purpose, value)) ? value : undefined;
}

/**
 * The form token of a login (or of the anonymous visitor of a login form): an HMAC of the user and
 * the session id, so nothing is stored, another site cannot know it, and it dies with the session.
 */
export function csrfToken(secret: string, principal: Pick<Principal, "user" | "session"> | null): string {
  return mac(secret, "csrf", JSON.stringify([principal?.user ?? "", principal?.session ?? ""]));
}

export function verifyCsrfToken(
  secret: string,
  principal: Pick<Principal, "user" | "session"> | null,
  token: unknown,
): boolean {
  return typeof token === "string" && equal(token, csrfToken(secret, principal));
}

/** Scripts only from this origin: no inline scripts, no `eval`, no inline style attributes. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/** Headers for every response; HTML pages also get the CSP. */
export function securityHeaders(headers: Headers, kind: "html" | "data"): Headers {
  headers.set("x-content-type-options", "nosniff");
  headers.set("referrer-policy", "same-origin");
  if (kind === "html") {
    headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
    headers.set("x-frame-options", "DENY");
  }
  if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
  return headers;
}

/** Cookies of a request as a map (first value wins). */
export function readCookies(request: Request): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || cookies.has(name)) continue;
    try {
      cookies.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
    } catch {
      // a malformed cookie is ignored, as browsers do
    }
  }
  return cookies;
}

export interface CookieOptions {
  readonly maxAgeSeconds?: number;
  readonly path?: string;
  readonly secure?: boolean;
  readonly httpOnly?: boolean;
}

/** A `Set-Cookie` value: HttpOnly and SameSite=Lax unless told otherwise. */
export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${options.path ?? "/"}`, "SameSite=Lax"];
  if (options.httpOnly !== false) parts.push("HttpOnly");
  if (options.secure) parts.push("Secure");
  if (options.maxAgeSeconds !== undefined) parts.push(`Max-Age=${options.maxAgeSeconds}`);
  return parts.join("; ");
}
