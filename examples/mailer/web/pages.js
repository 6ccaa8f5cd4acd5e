// @ts-check
// The demo's own page parts, in the dashboard's shell. `html` escapes every value.
import { html, section, taskItem } from "taskledger/dashboard";
import { TEMPLATES } from "../lib/mail.js";

/** @typedef {import("taskledger/dashboard").PageContext} PageContext */
/** @typedef {import("taskledger").Task} Task */
/** @typedef {import("../lib/mailbox.js").Message} Message */

/** @param {PageContext} ctx */
const csrf = (ctx) => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;

/**
 * @param {PageContext} ctx
 * @param {string} next
 * @param {string} username what was typed before, when it was refused
 */
export function loginForm(ctx, next, username = "") {
  return html`<section class="card login">
    <h2>Log in</h2>
    <form method="post" action="/login" class="form">
      ${csrf(ctx)}<input type="hidden" name="next" value="${next}">
      <label>User name <input name="username" required maxlength="64" autocomplete="username" autofocus placeholder="alice" value="${username}"></label>
      <p class="hint">Any name works — it is who your tasks belong to. Names listed in MAILER_ADMINS (default: admin) see everyone's tasks.</p>
      <button class="button" type="submit">Log in</button>
    </form>
  </section>`;
}

/**
 * The three forms. `kept`: the mail form's input after an error, so it is corrected, not retyped.
 * @param {PageContext} ctx
 * @param {number} leadSeconds
 * @param {Record<string, string>} [kept]
 */
export function toolForms(ctx, leadSeconds, kept = {}) {
  const reserve = kept.is_scheduled !== undefined;
  return html`<div class="grid tools">
    <section class="card" id="send-mail" aria-labelledby="send-mail-title">
      <h2 id="send-mail-title">Send a mail</h2>
      <form method="post" action="/mail" class="form">
        ${csrf(ctx)}
        <label>Recipient <input type="email" name="recipient" required placeholder="someone@example.com" value="${kept.recipient ?? ""}"></label>
        <label>Template <select name="template_name">${Object.entries(TEMPLATES).map(
          ([name, subject]) =>
            html`<option value="${name}"${kept.template_name === name ? html` selected` : ""}>${name} — ${subject}</option>`,
        )}</select></label>
        <fieldset class="reserve">
          <legend><label class="check"><input type="checkbox" name="is_scheduled" value="1"${reserve ? html` checked` : ""}> Reserve for later</label></legend>
          <div class="reserve-when">
            <label>Send at <input type="datetime-local" name="scheduled_time" step="1" data-utc="scheduled_at" value="${kept.scheduled_time ?? ""}" aria-describedby="send-at-hint"></label>
            <p class="hint" id="send-at-hint">In your time zone, at least ${leadSeconds} seconds from now.</p>
          </div>
        </fieldset>
        <input type="hidden" name="scheduled_at" value="">
        <button class="button" type="submit">Send mail</button>
      </form>
    </section>
    <section class="card" id="count-words" aria-labelledby="count-words-title">
      <h2 id="count-words-title">Count words</h2>
      <form method="post" action="/words" class="form">
        ${csrf(ctx)}
        <label>Web page or text <textarea name="source" rows="5" required placeholder="https://example.com — or paste some text"></textarea></label>
        <button class="button" type="submit">Count words</button>
      </form>
    </section>
    <section class="card" id="image-set" aria-labelledby="image-set-title">
      <h2 id="image-set-title">Build an image set</h2>
      <form method="post" action="/images" class="form" enctype="multipart/form-data">
        ${csrf(ctx)}
        <label>Image <input type="file" name="image" accept="image/png,image/jpeg,image/webp,image/gif,image/avif" required></label>
        <p class="hint">PNG, JPEG, WebP, GIF or AVIF up to 10 MB; thumbnails from 1280 down to 64 pixels wide.</p>
        <button class="button" type="submit">Upload</button>
      </form>
    </section>
  </div>`;
}

/**
 * @param {PageContext} ctx
 * @param {Task[]} tasks
 */
export function imageSets(ctx, tasks) {
  if (tasks.length === 0) {
    return section(
      "image-sets",
      "Your latest image sets",
      html`<p class="empty">No image set yet. <a href="/">Upload an image.</a></p>`,
    );
  }
  return section(
    "image-sets",
    "Your latest image sets",
    html`${tasks.map((task) => {
      const result =
        /** @type {{ images?: { file: string, width: number, height: number, bytes: number }[] } | null} */ (
          task.result
        );
      return html`<div class="image-set"><ul class="tasks">${taskItem(ctx, task)}</ul>${
        result?.images
          ? html`<div class="thumbs">${result.images.map(
              (
                image,
              ) => html`<figure><a href="/images/${task.id}/${image.file}"><img src="/images/${task.id}/${image.file}" width="${Math.min(image.width, 240)}" alt="${image.width} pixels wide"></a>
              <figcaption>${image.width}×${image.height} · ${size(image.bytes)}</figcaption></figure>`,
            )}</div>`
          : ""
      }</div>`;
    })}`,
  );
}

/**
 * @param {Message[]} messages
 * @param {boolean} external
 */
export function mailbox(messages, external) {
  const note = external
    ? html`<p class="notice">Mail goes to the SMTP server in SMTP_URL; the built-in mailbox only shows what was sent before.</p>`
    : html`<p class="muted small">Without SMTP_URL, mail goes to this built-in mailbox (a real SMTP server on 127.0.0.1).</p>`;
  if (messages.length === 0)
    return html`${note}${section("mailbox", "Messages", html`<p class="empty">No mail yet.</p>`)}`;
  return html`${note}${section(
    "mailbox",
    "Messages",
    html`<div class="table-wrap"><table class="table">
      <thead><tr><th>Subject</th><th>To</th><th>Received</th><th>Attachments</th><th>Task</th></tr></thead>
      <tbody>${messages.map(
        (m) => html`<tr>
          <td><a href="/mailbox/${m.id}">${m.subject}</a></td>
          <td>${m.to}</td>
          <td>${m.date ? html`<time datetime="${m.date.toISOString()}" data-relative>${m.date.toISOString()}</time>` : ""}</td>
          <td class="num">${m.attachments.length}</td>
          <td>${m.taskId ? html`<a href="/tasks/${m.taskId}">#${m.taskId}</a>` : ""}</td>
        </tr>`,
      )}</tbody></table></div>`,
  )}`;
}

/** @param {Message} m */
export function message(m) {
  return html`<section class="card">
    <dl class="facts">
      <dt>Subject</dt><dd>${m.subject}</dd>
      <dt>From</dt><dd>${m.from}</dd>
      <dt>To</dt><dd>${m.to}</dd>
      <dt>Received</dt><dd>${m.date ? html`<time datetime="${m.date.toISOString()}">${m.date.toISOString()}</time>` : "—"}</dd>
      ${m.taskId ? html`<dt>Sent by</dt><dd><a href="/tasks/${m.taskId}">task #${m.taskId}</a></dd>` : ""}
    </dl>
  </section>
  <section class="card">
    <h2>Message</h2>
    ${m.html ? html`<iframe class="mail-frame" sandbox src="/mailbox/${m.id}/html" title="the message"></iframe>` : html`<pre class="code">${m.text ?? ""}</pre>`}
    <h2 class="spaced">Attachments</h2>
    <div class="attachments">${
      m.attachments.length === 0
        ? html`<p class="empty">none</p>`
        : m.attachments.map(
            (a, index) =>
              html`<a class="button ghost small" href="/mailbox/${m.id}/attachments/${index}" data-attachment>${a.filename} · ${a.contentType} · ${size(a.size)}</a>`,
          )
    }</div>
  </section>`;
}

/** @param {number} bytes */
function size(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KB`;
}
