// @ts-check
// The seeds' web app: log in, send a templated mail now or reserved, count words, build image
// sets, read the local mailbox — beside the taskledger dashboard, in one fetch-style handler.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { isTaskledgerError } from "taskledger";
import { createDashboardHandler, html, safeReturn } from "taskledger/dashboard";
import { assertSameOrigin, HttpError, securityHeaders } from "taskledger/http";
import { TEMPLATES } from "../lib/mail.js";
import { listMessages, readMessage } from "../lib/mailbox.js";
import { secret, smtpUrl } from "../lib/settings.js";
import { countWords } from "../tasks/count-words.js";
import { createImageSet, imageSetsDir, uploadsDir } from "../tasks/create-image-set.js";
import { sendAsyncMail } from "../tasks/send-mail.js";
import { forgetForm, keepForm, keptForm } from "./kept-form.js";
import { imageSets, loginForm, mailbox, message, toolForms } from "./pages.js";
import { authenticate, endSession, startSession, USERNAME } from "./session.js";

const FEED = new URL("../assets/feed.xml", import.meta.url);
const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const IMAGE_FORMATS = new Set(["jpeg", "png", "webp", "gif", "avif"]);
/** What the mail form gets back after an error. */
const MAIL_FIELDS = ["recipient", "template_name", "is_scheduled", "scheduled_time"];

/** A message for the user (the seeds' `raise ValueError` → `flash(str(e), 'danger')`). */
class FormError extends Error {}

/**
 * @param {import("taskledger").Taskledger} tl
 */
export function createMailerApp(tl) {
  const dashboard = createDashboardHandler(tl, {
    authenticate,
    secret,
    brand: "taskledger mailer",
    nav: [
      { href: "/", label: "Tasks" },
      { href: "/images", label: "Image sets" },
      { href: "/mailbox", label: "Mailbox" },
    ],
    loginPath: "/login",
    logoutPath: "/logout",
  });
  const lead = tl.settings.reservationLeadSeconds;

  /** @typedef {{ user: string, admin: boolean }} Principal */
  /** @typedef {(request: Request, url: URL, principal: Principal, params: string[]) => Promise<Response>} Route */

  /** @type {[string, RegExp, Route][]} */
  const routes = [
    ["GET", /^\/$/, home],
    ["POST", /^\/mail$/, sendMailForm],
    ["POST", /^\/words$/, countWordsForm],
    ["POST", /^\/images$/, uploadImage],
    ["GET", /^\/images$/, imagesPage],
    ["GET", /^\/images\/(\d+)\/(\d+w\.webp)$/, imageFile],
    ["GET", /^\/mailbox$/, mailboxPage],
    ["GET", /^\/mailbox\/([\w-]+)$/, messagePage],
    ["GET", /^\/mailbox\/([\w-]+)\/html$/, messageHtml],
    ["GET", /^\/mailbox\/([\w-]+)\/attachments\/(\d+)$/, attachment],
    ["POST", /^\/logout$/, logout],
  ];

  /** @type {Route} */
  async function home(request, _url, principal) {
    const ctx = dashboard.context(request, principal);
    const center = await dashboard.taskCenter(ctx);
    const kept = keptForm(request, "send-mail");
    // On a phone the lists come first (CSS order); the forms keep their place for keyboards.
    const body = html`<div class="home">${toolForms(ctx, lead, kept)}${center.body}</div>`;
    const response = dashboard.page(request, principal, {
      title: "Tasks",
      body,
      lastEventId: center.lastEventId,
    });
    if (Object.keys(kept).length > 0) response.headers.append("set-cookie", forgetForm());
    return response;
  }

  /** @type {Route} */
  async function sendMailForm(request, _url, principal) {
    const form = await dashboard.readForm(request, principal);
    const recipient = String(form.get("recipient") ?? "").trim();
    const templateName = String(form.get("template_name") ?? "");
    try {
      if (!EMAIL.test(recipient)) throw new FormError("Enter a valid recipient address.");
      if (!Object.hasOwn(TEMPLATES, templateName)) throw new FormError("Choose one of the templates.");
      const payload = {
        subject: TEMPLATES[/** @type {keyof typeof TEMPLATES} */ (templateName)],
        recipients: [recipient],
        templateName,
        context: { name: principal.user },
      };
      const options = {
        description: `Mail to ${recipient} with the ${templateName} template`,
        owner: principal.user,
      };
      if (!form.get("is_scheduled")) {
        const task = await tl.tasks.enqueue(sendAsyncMail, payload, options);
        return back(`Sending the ${templateName} mail to ${recipient} (task #${task.id}).`);
      }
      const at = reservationTime(form);
      const task = await tl.tasks.reserve(at, sendAsyncMail, payload, options).catch((error) => {
        if (isTaskledgerError(error) && error.field === "at") {
          throw new FormError(
            at.getTime() <= Date.now()
              ? "That time has already passed."
              : `A reservation must be at least ${lead} seconds from now.`,
          );
        }
        throw error;
      });
      return back(`The ${templateName} mail to ${recipient} is reserved for ${utc(at)} (task #${task.id}).`);
    } catch (error) {
      const kept = keepForm("send-mail", form, MAIL_FIELDS);
      if (error instanceof FormError) return back(error.message, "danger", kept);
      console.error(error);
      return back(
        `The mail to ${recipient} could not be sent: something went wrong. Try again.`,
        "danger",
        kept,
      );
    }
  }

  /** @type {Route} */
  async function countWordsForm(request, _url, principal) {
    const form = await dashboard.readForm(request, principal);
    const source = String(form.get("source") ?? "").trim();
    if (source === "") return back("Give a web page address or some text.", "danger");
    const what = /^https?:\/\//.test(source)
      ? source
      : `"${source.slice(0, 40)}${source.length > 40 ? "…" : ""}"`;
    const task = await tl.tasks.enqueue(countWords, source, {
      description: `Count the words of ${what}`,
      owner: principal.user,
    });
    return back(`Counting the words of ${what} (task #${task.id}).`);
  }

  /** @type {Route} */
  async function uploadImage(request, _url, principal) {
    let form;
    try {
      form = await dashboard.readForm(request, principal, MAX_UPLOAD_BYTES + 64 * 1024);
    } catch (error) {
      if (error instanceof HttpError && error.status === 413)
        return back("The image is larger than 10 MB.", "danger");
      throw error;
    }
    const file = form.get("image");
    if (!(file instanceof File) || file.size === 0) return back("Choose an image file.", "danger");
    const bytes = Buffer.from(await file.arrayBuffer());
    const format = await sharp(bytes)
      .metadata()
      .then(
        (m) => m.format,
        () => undefined,
      );
    if (!format || !IMAGE_FORMATS.has(format))
      return back(`${file.name} is not a PNG, JPEG, WebP, GIF or AVIF image.`, "danger");
    await mkdir(uploadsDir, { recursive: true });
    const upload = `${randomUUID()}.${format}`;
    await writeFile(join(uploadsDir, upload), bytes);
    const task = await tl.tasks.enqueue(
      createImageSet,
      { upload, originalName: file.name },
      { description: `Image set of ${file.name}`, owner: principal.user },
    );
    return back(`Building the image set of ${file.name} (task #${task.id}).`);
  }

  /** @type {Route} */
  async function imagesPage(request, _url, principal) {
    const lastEventId = await tl.notifications.lastId();
    const tasks = await tl.tasks.list({ owner: principal.user, name: createImageSet.name, limit: 20 });
    const body = imageSets(dashboard.context(request, principal), tasks);
    return dashboard.page(request, principal, { title: "Image sets", body, lastEventId });
  }

  /** @type {Route} */
  async function imageFile(_request, _url, principal, [id, file]) {
    const task = await tl.tasks.get(Number(id), { owner: principal.admin ? undefined : principal.user });
    if (!task || task.name !== createImageSet.name) throw new HttpError(404, "not_found", "No such image.");
    const bytes = await readFile(join(imageSetsDir, String(task.id), String(file))).catch(() => {
      throw new HttpError(404, "not_found", "No such image.");
    });
    const headers = securityHeaders(
      new Headers({ "content-type": "image/webp", "cache-control": "private, max-age=3600" }),
      "data",
    );
    return new Response(bytes, { headers });
  }

  /** @type {Route} */
  async function mailboxPage(request, _url, principal) {
    const messages = await listMessages(principal.admin ? undefined : principal.user);
    return dashboard.page(request, principal, {
      title: "Mailbox",
      body: mailbox(messages, smtpUrl !== undefined),
    });
  }

  /** @param {Principal} principal @param {string} id */
  async function ownMessage(principal, id) {
    const found = await readMessage(id);
    if (!found || (!principal.admin && found.owner !== principal.user))
      throw new HttpError(404, "not_found", "No such message.");
    return found;
  }

  /** @type {Route} */
  async function messagePage(request, _url, principal, [id]) {
    const found = await ownMessage(principal, String(id));
    return dashboard.page(request, principal, { title: found.subject, body: message(found) });
  }

  /** The message's own HTML, in a sandboxed frame: images inline, no scripts, nothing fetched. */
  /** @type {Route} */
  async function messageHtml(_request, _url, principal, [id]) {
    const found = await ownMessage(principal, String(id));
    const inline = (found.html ?? "").replace(/cid:([^"'\s)]+)/g, (whole, cid) => {
      const part = found.attachments.find((a) => a.cid === cid);
      return part ? `data:${part.contentType};base64,${part.content.toString("base64")}` : whole;
    });
    const headers = new Headers({
      "content-type": "text/html; charset=utf-8",
      "content-security-policy":
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
      "x-content-type-options": "nosniff",
      "cache-control": "no-store",
    });
    return new Response(inline, { headers });
  }

  /** @type {Route} */
  async function attachment(_request, _url, principal, [id, index]) {
    const found = await ownMessage(principal, String(id));
    const part = found.attachments[Number(index)];
    if (!part) throw new HttpError(404, "not_found", "No such attachment.");
    const headers = securityHeaders(
      new Headers({
        "content-type": part.contentType,
        "content-disposition": `attachment; filename="${part.filename.replace(/[^\w.-]/g, "_")}"`,
      }),
      "data",
    );
    return new Response(part.content, { headers });
  }

  async function loginPage(/** @type {Request} */ request, /** @type {URL} */ url) {
    const next = safeReturn(url.searchParams.get("next"), "/");
    const kept = keptForm(request, "login");
    const response = dashboard.page(request, null, {
      title: "taskledger mailer",
      body: loginForm(dashboard.context(request, null), next, kept.username ?? ""),
    });
    if (kept.username) response.headers.append("set-cookie", forgetForm());
    return response;
  }

  async function login(/** @type {Request} */ request) {
    const form = await dashboard.readForm(request, null);
    const username = String(form.get("username") ?? "").trim();
    const next = safeReturn(form.get("next"), "/");
    if (!USERNAME.test(username)) {
      const response = dashboard.redirect(`/login?next=${encodeURIComponent(next)}`, {
        kind: "danger",
        text: "A user name has 1 to 64 characters: letters, digits, and _ . @ - only.",
      });
      response.headers.append("set-cookie", keepForm("login", form, ["username"]));
      return response;
    }
    const response = dashboard.redirect(next, { kind: "success", text: `Welcome, ${username}.` });
    response.headers.append("set-cookie", await startSession(request, username));
    return response;
  }

  /** @type {Route} */
  async function logout(request, _url, principal) {
    await dashboard.readForm(request, principal);
    const response = dashboard.redirect("/login", { kind: "info", text: "You are logged out." });
    response.headers.append("set-cookie", await endSession(request));
    return response;
  }

  /**
   * Back to the task center with a message, and the form's input when `kept` (a `keepForm` cookie).
   * @param {string} text
   * @param {"success" | "danger"} kind
   * @param {string} [kept]
   */
  function back(text, kind = "success", kept) {
    const response = dashboard.redirect("/", { kind, text });
    if (kept) response.headers.append("set-cookie", kept);
    return response;
  }

  /** @param {Request} request */
  async function app(request) {
    const url = new URL(request.url);
    try {
      assertSameOrigin(request);
      if (url.pathname === "/login") {
        if (request.method === "POST") return await login(request);
        if (request.method === "GET" || request.method === "HEAD") return await loginPage(request, url);
      }
      // The demo's own RSS feed, for its fetch-rss schedule: public, and holds no task data.
      if (url.pathname === "/feed.xml" && (request.method === "GET" || request.method === "HEAD")) {
        const headers = securityHeaders(
          new Headers({ "content-type": "application/rss+xml; charset=utf-8" }),
          "data",
        );
        return new Response(request.method === "HEAD" ? null : await readFile(FEED), { headers });
      }
      for (const [method, pattern, route] of routes) {
        const match = pattern.exec(url.pathname);
        if (!match || (request.method !== method && !(method === "GET" && request.method === "HEAD")))
          continue;
        const principal = await dashboard.principal(request);
        if (!principal) {
          return method === "GET"
            ? dashboard.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`)
            : dashboard.redirect("/login", { kind: "danger", text: "Log in first." });
        }
        return await route(request, url, principal, match.slice(1));
      }
    } catch (error) {
      return failure(request, error);
    }
    return dashboard(request);
  }

  /**
   * @param {Request} request
   * @param {unknown} error
   */
  async function failure(request, error) {
    const principal = await dashboard.principal(request).catch(() => null);
    const known = error instanceof HttpError;
    if (!known) console.error(error);
    return dashboard.page(request, principal, {
      title: known ? "Not possible" : "Server error",
      status: known ? error.status : 500,
      body: html`<section class="card"><p>${known ? error.message : "Something went wrong."}</p><p><a href="/">Back to your tasks</a></p></section>`,
    });
  }

  return Object.assign(app, { close: () => dashboard.close() });
}

/**
 * The reservation time from the form: the browser sends it as UTC (`scheduled_at`); without
 * script, `scheduled_time` is read as this server's local time (the seeds' `%Y-%m-%d %H:%M:%S`).
 * @param {FormData} form
 */
function reservationTime(form) {
  const utcValue = String(form.get("scheduled_at") ?? "").trim();
  const local = String(form.get("scheduled_time") ?? "").trim();
  let at;
  if (utcValue) at = new Date(utcValue);
  else {
    const parts = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
    if (parts) {
      const [, y, mo, d, h, mi, s] = parts.map(Number);
      at = new Date(/** @type {number} */ (y), /** @type {number} */ (mo) - 1, d, h, mi, s || 0);
    }
  }
  if (!utcValue && !local)
    throw new FormError("Pick a date and time to send at, or untick “Reserve for later”.");
  if (!at || Number.isNaN(at.getTime()))
    throw new FormError("The time format is not valid (YYYY-MM-DD HH:MM:SS).");
  return at;
}

/** @param {Date} date */
function utc(date) {
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}
