// @ts-check
import { readFile } from "node:fs/promises";
import { defineTask } from "taskledger";
import { ATTACHED_IMAGE, renderTemplate, sendMail } from "../lib/mail.js";
import { pause } from "../lib/pause.js";
import { stepMs } from "../lib/settings.js";

/**
 * The seeds' `send_async_mail`: render a template, attach the image, send — reporting progress
 * on the way. Retried 3 times, 5 s apart, for a passing network fault (the seeds' `Retry`).
 *
 * Payload: `{ subject, recipients, templateName, context? }`.
 */
export const sendAsyncMail = defineTask({
  name: "send_async_mail",
  timeout: 60_000,
  retry: { max: 3, delay: 5_000 },
  /** @param {{ subject: string, recipients: string[], templateName: string, context?: Record<string, unknown> }} mail */
  async run(mail, ctx) {
    const image = await readFile(ATTACHED_IMAGE);
    await pause(stepMs, ctx.signal);
    await ctx.setProgress(25);
    const html = await renderTemplate(mail.templateName, {
      ...mail.context,
      recipient: mail.recipients.join(", "),
      sentAt: new Date().toUTCString(),
    });
    await pause(stepMs, ctx.signal);
    await ctx.setProgress(50);
    // From here the mail goes out: a cancel is refused with this reason (one that came first stops it here).
    await ctx.pointOfNoReturn("sending the mail");
    const info = await sendMail(
      {
        to: mail.recipients,
        subject: mail.subject,
        html,
        headers: { "X-Taskledger-Task": String(ctx.id), "X-Taskledger-Owner": ctx.task.owner ?? "" },
        attachments: [{ filename: "taskledger.png", content: image, contentType: "image/png", cid: "logo" }],
      },
      { signal: ctx.signal },
    );
    await ctx.setProgress(80);
    // Sent: nothing left to stop, so this last step no longer listens for a cancel.
    await pause(stepMs);
    return { result: "success", messageId: info.messageId, accepted: info.accepted };
  },
});
