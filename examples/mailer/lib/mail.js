// @ts-check
// Sending a mail: render an HTML template and send it with an attached image — to
// SMTP_URL when set, else to the built-in mailbox.
import { readFile } from "node:fs/promises";
import nodemailer from "nodemailer";
import { localMailbox } from "./mailbox.js";
import { sender, smtpUrl } from "./settings.js";

/** The templates the form offers, with their default subjects. */
export const TEMPLATES = {
  welcome: "Welcome to taskledger",
  report: "Your task report",
};

export const ATTACHED_IMAGE = new URL("../assets/logo.png", import.meta.url);

const ESCAPES = /** @type {Record<string, string>} */ ({
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
});
const escapeHtml = (/** @type {unknown} */ value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

/**
 * `{{ name }}` placeholders, filled with escaped values.
 * @param {string} templateName
 * @param {Record<string, unknown>} context
 */
export async function renderTemplate(templateName, context) {
  if (!Object.hasOwn(TEMPLATES, templateName)) throw new Error(`unknown mail template "${templateName}"`);
  const source = await readFile(new URL(`../templates/email/${templateName}.html`, import.meta.url), "utf8");
  return source.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, key) => escapeHtml(context[key]));
}

/** @type {Promise<import("nodemailer").Transporter> | undefined} */
let transport;

function transporter() {
  transport ??= smtpUrl
    ? Promise.resolve(nodemailer.createTransport(smtpUrl))
    : localMailbox().then(({ host, port }) =>
        nodemailer.createTransport({ host, port, secure: false, ignoreTLS: true }),
      );
  return transport;
}

/**
 * Send one mail. `signal` stops it while it can still be stopped: before the connection, and
 * while waiting for the server (the caller then hears of the abort at once; a message already
 * handed over may still be delivered — which is why the task marks its point of no return first).
 * @param {{ to: string[], subject: string, html: string, headers?: Record<string, string>,
 *   attachments?: import("nodemailer/lib/mailer/index.js").Attachment[] }} mail
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function sendMail(mail, { signal } = {}) {
  signal?.throwIfAborted();
  const transport = await transporter();
  signal?.throwIfAborted();
  const sent = transport.sendMail({ from: sender, ...mail });
  if (!signal) return sent;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    sent.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
