// @ts-check
// The seeds' `session['username']`: the cookie holds a random session id (signed); the session
// itself — who, since when — is a file in the data directory, so every process serving the demo
// knows it, and logging out deletes it: a copy of the cookie is worth nothing afterwards.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readCookies, serializeCookie, sign, unsign } from "taskledger/http";
import { admins, dataDir, secret } from "../lib/settings.js";

const COOKIE = "mailer_session";
const MAX_AGE_SECONDS = 7 * 24 * 3600;
const folder = join(dataDir, "sessions");
/** 32 random bytes, base64url. */
const SESSION_ID = /^[\w-]{43}$/;

export const USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** @param {string} id */
const fileOf = (id) => join(folder, `${id}.json`);

/**
 * The session id the request's cookie names, when we signed it.
 * @param {Request} request
 */
function sessionId(request) {
  const id = unsign(secret, "session", readCookies(request).get(COOKIE));
  return id !== undefined && SESSION_ID.test(id) ? id : undefined;
}

/**
 * The `authenticate` hook of the API and the dashboard. `session` binds the form tokens to this
 * login, so a page from an earlier one cannot post.
 * @param {Request} request
 * @returns {Promise<{ user: string, admin: boolean, session: string } | null>}
 */
export async function authenticate(request) {
  const id = sessionId(request);
  if (!id) return null;
  try {
    const { user, since } = JSON.parse(await readFile(fileOf(id), "utf8"));
    if (typeof user !== "string" || !USERNAME.test(user) || typeof since !== "number") return null;
    if (Date.now() - since > MAX_AGE_SECONDS * 1000) return null;
    return { user, admin: admins.has(user), session: id };
  } catch {
    return null; // never issued, logged out, or expired and removed
  }
}

/**
 * Log `user` in: a new session (the one this browser had, if any, ends). Returns its cookie.
 * @param {Request} request
 * @param {string} user
 */
export async function startSession(request, user) {
  await endSession(request);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const id = randomBytes(32).toString("base64url");
  await writeFile(fileOf(id), JSON.stringify({ user, since: Date.now() }), { flag: "wx", mode: 0o600 });
  void removeExpired();
  const secure = new URL(request.url).protocol === "https:";
  return serializeCookie(COOKIE, sign(secret, "session", id), { maxAgeSeconds: MAX_AGE_SECONDS, secure });
}

/**
 * Log out: the request's session ends here, for every copy of its cookie. Returns the cookie
 * that clears it from the browser.
 * @param {Request} request
 */
export async function endSession(request) {
  const id = sessionId(request);
  if (id) await rm(fileOf(id), { force: true });
  return serializeCookie(COOKIE, "", { maxAgeSeconds: 0 });
}

/** Sessions nobody logged out of are removed once they are too old to be accepted. */
async function removeExpired() {
  const oldest = Date.now() - MAX_AGE_SECONDS * 1000;
  for (const name of await readdir(folder).catch(() => [])) {
    const file = join(folder, name);
    const { mtimeMs } = await stat(file).catch(() => ({ mtimeMs: Number.POSITIVE_INFINITY }));
    if (mtimeMs < oldest) await rm(file, { force: true });
  }
}
