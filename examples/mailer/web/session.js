// @ts-check
// The seeds' `session['username']`: a signed cookie holding the user name and when it was issued.
import { readCookies, serializeCookie, sign, unsign } from "taskledger/http";
import { admins, secret } from "../lib/settings.js";

const COOKIE = "mailer_session";
const MAX_AGE_SECONDS = 7 * 24 * 3600;

export const USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * The `authenticate` hook of the API and the dashboard.
 * @param {Request} request
 * @returns {{ user: string, admin: boolean } | null}
 */
export function authenticate(request) {
  const value = unsign(secret, "session", readCookies(request).get(COOKIE));
  if (!value) return null;
  try {
    const { u, t } = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    if (typeof u !== "string" || !USERNAME.test(u) || typeof t !== "number") return null;
    if (Date.now() - t > MAX_AGE_SECONDS * 1000) return null;
    return { user: u, admin: admins.has(u) };
  } catch {
    return null;
  }
}

/**
 * @param {string} user
 * @param {boolean} secure
 */
export function loginCookie(user, secure) {
  const value = Buffer.from(JSON.stringify({ u: user, t: Date.now() })).toString("base64url");
  return serializeCookie(COOKIE, sign(secret, "session", value), { maxAgeSeconds: MAX_AGE_SECONDS, secure });
}

export const logoutCookie = () => serializeCookie(COOKIE, "", { maxAgeSeconds: 0 });
