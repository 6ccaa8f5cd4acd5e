// @ts-check
// The built-in mailbox: a real SMTP server on 127.0.0.1, in the process that sends, which keeps
// every message it receives as an .eml file in the data directory — so the web pages of any
// process can show them.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { dataDir } from "./settings.js";

const folder = join(dataDir, "mailbox");

/** @type {Promise<{ host: string, port: number }> | undefined} */
let listening;

/** Start the local SMTP server once per process; resolves with where it listens. */
export function localMailbox() {
  listening ??= (async () => {
    await mkdir(folder, { recursive: true });
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      size: 25 * 1024 * 1024,
      onData(stream, _session, callback) {
        /** @type {Buffer[]} */
        const chunks = [];
        stream.on("data", (chunk) => chunks.push(chunk));
        stream.on("error", callback);
        stream.on("end", () => {
          store(Buffer.concat(chunks)).then(() => callback(), callback);
        });
      },
    });
    await new Promise((resolve, reject) => {
      server.server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(undefined));
    });
    server.server.unref(); // the mailbox never keeps the process alive on its own
    const address = /** @type {import("node:net").AddressInfo} */ (server.server.address());
    return { host: "127.0.0.1", port: address.port };
  })();
  return listening;
}

/** @param {Buffer} raw */
async function store(raw) {
  const name = `${Date.now().toString().padStart(15, "0")}-${randomUUID()}`;
  const temporary = join(folder, `${name}.tmp`);
  await writeFile(temporary, raw);
  await rename(temporary, join(folder, `${name}.eml`)); // readers never see half a message
}

/**
 * @typedef {{ id: string, owner: string | null, taskId: number | null, from: string, to: string,
 *   subject: string, date: Date | null, html: string | null, text: string | null,
 *   attachments: { filename: string, contentType: string, size: number, cid: string | null, content: Buffer }[] }} Message
 */

/** @type {Map<string, Message>} */
const parsed = new Map();

/**
 * The messages of one owner (`undefined` = everyone's), newest first.
 * @param {string | undefined} owner
 * @returns {Promise<Message[]>}
 */
export async function listMessages(owner) {
  let names;
  try {
    names = (await readdir(folder))
      .filter((name) => name.endsWith(".eml"))
      .sort()
      .reverse();
  } catch {
    return [];
  }
  const messages = await Promise.all(names.slice(0, 200).map((name) => readMessage(name.slice(0, -4))));
  return messages.filter(
    /** @returns {m is Message} */ (m) => m !== undefined && (owner === undefined || m.owner === owner),
  );
}

/**
 * @param {string} id
 * @returns {Promise<Message | undefined>}
 */
export async function readMessage(id) {
  if (!/^\d{15}-[0-9a-f-]{36}$/.test(id)) return undefined;
  const cached = parsed.get(id);
  if (cached) return cached;
  let raw;
  try {
    raw = await readFile(join(folder, `${id}.eml`));
  } catch {
    return undefined;
  }
  const mail = await simpleParser(raw);
  const header = (/** @type {string} */ name) => {
    const value = mail.headers.get(name);
    return typeof value === "string" ? value : null;
  };
  const addresses = (/** @type {any} */ field) =>
    (Array.isArray(field) ? field : field ? [field] : []).map((a) => a.text).join(", ");
  /** @type {Message} */
  const message = {
    id,
    owner: header("x-taskledger-owner"),
    taskId: header("x-taskledger-task") ? Number(header("x-taskledger-task")) : null,
    from: addresses(mail.from),
    to: addresses(mail.to),
    subject: mail.subject ?? "(no subject)",
    date: mail.date ?? null,
    html: typeof mail.html === "string" ? mail.html : null,
    text: mail.text ?? null,
    attachments: mail.attachments.map((a) => ({
      filename: a.filename ?? "attachment",
      contentType: a.contentType,
      size: a.size,
      cid: a.cid ?? null,
      content: a.content,
    })),
  };
  parsed.set(id, message);
  return message;
}
