import { type PendingRetry, publicLog } from "../../core/task-log.js";
import type { Task } from "../../core/types.js";
import {
  cancelForm,
  jsonBlock,
  outcomeLine,
  type PageContext,
  progressBar,
  statusBadge,
  time,
} from "../components.js";
import { html, type SafeHtml } from "../html.js";

/** One task: where it stands, what it was given, what it returned or why it failed, and when. */
export function renderTaskDetail(ctx: PageContext, task: Task, retry: PendingRetry | null = null): SafeHtml {
  const seconds = (ms: number) => `${(ms / 1000).toLocaleString("en")} s`;
  // Stacks and causes are for admins; a task's owner reads what each attempt said.
  const log = ctx.principal?.admin ? task.log : publicLog(task.log);
  const ran =
    task.startedAt && task.finishedAt ? seconds(task.finishedAt.getTime() - task.startedAt.getTime()) : null;
  return html`<div class="detail" data-task-id="${task.id}" data-status="${task.status}">
  <section class="card" id="summary" aria-label="Task #${task.id} ${task.name}" data-live-region aria-live="polite">
    <div class="task-head">
      <span class="task-title"><span class="task-id">#${task.id}</span> ${task.name}</span>
      ${statusBadge(task)}
    </div>
    <p class="task-desc">${task.description}</p>
    ${progressBar(task)}
    ${outcomeLine(task, retry)}
    ${task.cancelRequestedAt && task.status === "running" ? html`<p class="notice">Cancel requested ${time(task.cancelRequestedAt, { relative: true })}: the task is stopping.</p>` : ""}
    ${task.noReturnAt && task.status === "running" ? html`<p class="notice">Past its point of no return (${task.noReturnReason}) ${time(task.noReturnAt, { relative: true })}: it can no longer be canceled.</p>` : ""}
    <div class="actions">${cancelForm(ctx, task, "Cancel task")}</div>
    <dl class="facts">
      <dt>Owner</dt><dd>${task.owner ?? "system"}</dd>
      <dt>Queue</dt><dd>${task.queue}${task.priority ? ` · priority ${task.priority}` : ""}</dd>
      <dt>Attempts</dt><dd>${task.attempts} of ${task.maxAttempts}</dd>
      <dt>Timeout</dt><dd>${seconds(task.timeoutMs)}</dd>
      ${task.reservedAt ? html`<dt>Reserved for</dt><dd>${time(task.reservedAt, { relative: true })}</dd>` : ""}
      ${task.scheduleId !== null ? html`<dt>Schedule</dt><dd>#${task.scheduleId}${task.slotAt ? html` · slot ${time(task.slotAt)}` : ""}</dd>` : ""}
      <dt>Created</dt><dd>${time(task.createdAt, { relative: true })}</dd>
      <dt>Started</dt><dd>${time(task.startedAt, { relative: true })}</dd>
      <dt>Ended</dt><dd>${time(task.finishedAt, { relative: true })}${ran ? html` <span class="muted">(ran ${ran})</span>` : ""}</dd>
      <dt>Updated</dt><dd>${time(task.updatedAt, { relative: true })}</dd>
    </dl>
  </section>
  <section class="card" id="payload" aria-labelledby="payload-title"><h2 id="payload-title">Payload</h2>${jsonBlock(task.payload)}</section>
  <section class="card" id="result" aria-labelledby="result-title" data-live-region aria-live="polite"><h2 id="result-title">Result</h2>${jsonBlock(task.result)}</section>
  <section class="card" id="log" aria-labelledby="log-title" data-live-region aria-live="polite"><h2 id="log-title">Log</h2>${
    log ? html`<pre class="code log">${log}</pre>` : html`<p class="empty">none</p>`
  }</section>
</div>`;
}
