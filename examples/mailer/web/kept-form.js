// @ts-check
// A form's input, kept for the page a refused form redirects to (post/redirect/get), so the user
// corrects it rather than typing it again. A signed cookie that lives two minutes and is read once.
import { readCookies, serializeCookie, sign, unsign } from "taskledger/http";
import { secret } from "../lib/settings.js";

const COOKIE = "mailer_form";
/** Each kept value is cut here: a cookie holds about 4 KB. */
const MAX_VALUE = 512;

/** @typedef {{ form: string, values: Record<string, string> }} KeptForm */

/**
 * The cookie that keeps `fields` of `form` (the names listed) for the next page.
 * @param {string} form
 * @param {FormData} data
 * @param {readonly string[]} fields
 */
export function keepForm(form, data, fields) {
  /** @type {Record<string, string>} */
  const values = {};
  for (const name of fields) {
    const value = data.get(name);
    if (typeof value === "string" && value !== "") values[name] = value.slice(0, MAX_VALUE);
  }
  const encoded = Buffer.from(JSON.stringify({ form, values })).toString("base64url");
  return serializeCookie(COOKIE, sign(secret, COOKIE, encoded), { maxAgeSeconds: 120 });
}

/**
 * What the request's cookie kept of `form`: its values by field name (empty when nothing was).
 * @param {Request} request
 * @param {string} form
 * @returns {Record<string, string>}
 */
export function keptForm(request, form) {
  const encoded = unsign(secret, COOKIE, readCookies(request).get(COOKIE));
  if (!encoded) return {};
  try {
    const kept = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
    if (kept?.form !== form || typeof kept.values !== "object" || kept.values === null) return {};
    return Object.fromEntries(Object.entries(kept.values).filter(([, value]) => typeof value === "string"));
  } catch {
    return {};
  }
}

/** The page that showed the kept values clears them (appended to its response). */
export const forgetForm = () => serializeCookie(COOKIE, "", { maxAgeSeconds: 0 });
