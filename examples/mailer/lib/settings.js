// @ts-check
// The demo's settings, from the environment, read once.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";

const env = process.env;

/** Where the demo keeps uploads, image sets and the local mailbox. */
export const dataDir = resolve(env.MAILER_DATA_DIR ?? "mailer-data");

/** Users who see every task (comma-separated usernames). */
export const admins = new Set(
  (env.MAILER_ADMINS ?? "admin")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean),
);

/** Signs the session cookie and form tokens; random per start unless set (logins then last until a restart). */
export const secret = env.MAILER_SECRET ?? randomBytes(32).toString("base64url");

/** Mail goes here when set (e.g. smtp://user:pass@smtp.example.com:587); else to the built-in mailbox. */
export const smtpUrl = env.SMTP_URL || undefined;

export const sender = env.MAILER_SENDER ?? "taskledger demo <demo@taskledger.local>";

/** A pause between the steps of a task, so its progress can be watched (and canceled) in the demo. */
export const stepMs = Number(env.MAILER_STEP_MS ?? 400);

/** How far ahead a reservation must be, in seconds (the library's `reservationLeadSeconds`). */
export const reservationLeadSeconds = Number(env.MAILER_RESERVATION_LEAD_SECONDS ?? 30);
