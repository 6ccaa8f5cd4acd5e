import { attemptFailure, describeFailure, type PendingRetry, publicLog } from "../core/task-log.js";
import { type DisplayStatus, displayStatus, type Notification, type Task } from "../core/types.js";
import type { Principal } from "../http/auth.js";
import { html, type SafeHtml } from "./html.js";

/** What every page part needs to know about the request it answers. */
export interface PageContext {
  readonly principal: Principal | null;
  /** Where the dashboard's pages are mounted ("" or "/dashboard"). */
  readonly base: string;
  /** Where the API is mounted (its routes are `${apiBase}/api/…`). */
  readonly apiBase: string;
  /** The form token of this user. */
  readonly csrf: string;
  /** Path and query of this page, to come back to after a form. */
  readonly here: string;
}

/** A task's status as people read it: a failed finish is "failed" (see `displayStatus`). */
export function statusOf(task: Pick<Task, "status" | "failed">): DisplayStatus {
  return displayStatus(task);
}

export function statusBadge(task: Pick<Task, "status" | "failed">): SafeHtml {
  const status = statusOf(task);
  return html`<span class="badge status-${status}" data-field="status">${status}</span>`;
}

/**
 * A task's bar — none for a failed or canceled task: the ledger records progress 100 at every end,
 * which is not how far such a task got, and its status and log say what became of it.
 */
export function progressBar(task: Pick<Task, "id" | "name" | "progress" | "status" | "failed">): SafeHtml {
  const status = statusOf(task);
  if (status === "failed" || status === "canceled") return html``;
  // The bar carries the value for assistive technology; the label beside it is for the eye.
  return html`<div class="progress status-${status}">
    <progress max="100" value="${task.progress}" data-field="progress" aria-label="Progress of task #${task.id} ${task.name}"></progress>
    <span class="progress-label" data-field="progress-label" aria-hidden="true">${task.progress}%</span>
  </div>`;
}

/**
 * What became of a task's last attempt, in a line without stack: "attempt 2 of 4 failed: … —
 * retrying in 5 s" while a retry waits, why it failed, or how it was canceled.
 */
export function outcomeLine(
  task: Pick<Task, "status" | "failed" | "log" | "attempts" | "maxAttempts">,
  retry: PendingRetry | null = null,
): SafeHtml {
  if (retry) {
    return html`<p class="task-note" data-field="retry">${describeFailure(retry.attempt, retry.maxAttempts, retry.error)} — retrying ${time(retry.retryAt, { relative: "until" })}</p>`;
  }
  const status = statusOf(task);
  if (status === "failed") {
    const error = attemptFailure(task.log, task.attempts) ?? "no reason recorded";
    return html`<p class="task-note failure" data-field="outcome">${describeFailure(task.attempts, task.maxAttempts, error)}</p>`;
  }
  if (status === "canceled" && task.log) {
    return html`<p class="task-note" data-field="outcome">${publicLog(task.log)!.split("\n").at(-1)}</p>`;
  }
  return html``;
}

/** A time, rendered in UTC; the page script shows it in the reader's zone (and "in 20 s" when asked). */
export function time(date: Date | null, options: { relative?: boolean | "until" } = {}): SafeHtml {
  if (!date) return html`<span class="muted">—</span>`;
  const iso = date.toISOString();
  const text = `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  // "until": a time being waited for reads "now" once it has come, never "3 s ago".
  const relative =
    options.relative === "until"
      ? html` data-relative="until"`
      : options.relative
        ? html` data-relative`
        : "";
  return html`<time datetime="${iso}"${relative}>${text}</time>`;
}

export function csrfField(ctx: PageContext): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

/** A cancel button; screen readers hear which task it cancels ("Cancel task #12 count_words"). */
export function cancelForm(
  ctx: PageContext,
  task: Pick<Task, "id" | "name" | "status">,
  label: "Cancel" | "Cancel task" = "Cancel",
): SafeHtml {
  if (task.status !== "queued" && task.status !== "running" && task.status !== "reserved") return html``;
  const rest = label === "Cancel" ? ` task #${task.id} ${task.name}` : ` #${task.id} ${task.name}`;
  return html`<form method="post" action="${ctx.base}/tasks/${task.id}/cancel" class="inline" data-enhance>
    ${csrfField(ctx)}<input type="hidden" name="return_to" value="${ctx.here}">
    <button type="submit" class="button danger small">${label}<span class="sr-only">${rest}</span></button>
  </form>`;
}

export function taskLink(ctx: PageContext, task: Pick<Task, "id" | "name">): SafeHtml {
  return html`<a class="task-title" href="${ctx.base}/tasks/${task.id}"><span class="task-id">#${task.id}</span> ${task.name}</a>`;
}

export interface TaskItemOptions {
  readonly showOwner?: boolean;
  /** The retry the task waits for (`tl.tasks.pendingRetry`). */
  readonly retry?: PendingRetry | null;
}

/** One task in a list: title, description, status, progress, how it ended, and its cancel button. */
export function taskItem(ctx: PageContext, task: Task, options: TaskItemOptions = {}): SafeHtml {
  const when =
    task.status === "reserved"
      ? html`runs ${time(task.reservedAt, { relative: true })}`
      : task.finishedAt
        ? html`ended ${time(task.finishedAt, { relative: true })}`
        : html`created ${time(task.createdAt, { relative: true })}`;
  return html`<li class="task" data-task-id="${task.id}" data-status="${statusOf(task)}">
    <div class="task-head">
      ${taskLink(ctx, task)}
      ${statusBadge(task)}
    </div>
    <p class="task-desc">${task.description}</p>
    ${task.status === "reserved" ? "" : progressBar(task)}
    ${outcomeLine(task, options.retry)}
    <div class="task-foot">
      <span class="muted small">${when}${options.showOwner ? html` · ${task.owner ?? "system"}` : ""} · ${task.queue}</span>
      ${cancelForm(ctx, task)}
    </div>
  </li>`;
}

export function taskList(
  ctx: PageContext,
  tasks: readonly Task[],
  empty: string,
  options: { showOwner?: boolean; retries?: ReadonlyMap<number, PendingRetry> } = {},
) {
  if (tasks.length === 0) return html`<p class="empty">${empty}</p>`;
  const { retries, ...rest } = options;
  return html`<ul class="tasks">${tasks.map((t) => taskItem(ctx, t, { ...rest, retry: retries?.get(t.id) }))}</ul>`;
}

/**
 * Whether a notification has a line in the feed: not the progress 100 the ledger records at every
 * end (the ending's own notification follows it, and says how it ended).
 */
export function inFeed(n: Pick<Notification, "name" | "data">): boolean {
  return !(n.name === "task_progress" && (n.data.status === "finished" || n.data.status === "canceled"));
}

/** A notification as one line of the feed (the page script writes live ones the same way). */
export function notificationItem(ctx: PageContext, n: Notification): SafeHtml {
  return html`<li class="note" data-note-id="${n.id}">
    <span class="note-name note-${n.name}">${describeNotification(n)}</span>
    ${n.taskId === null ? "" : html`<a href="${ctx.base}/tasks/${n.taskId}">#${n.taskId}</a>`}
    ${time(n.createdAt, { relative: true })}
  </li>`;
}

export function describeNotification(n: Pick<Notification, "name" | "data">): string {
  const data = n.data as Record<string, unknown>;
  switch (n.name) {
    case "task_progress":
      return `progress ${String(data.progress)}%`;
    case "task_reserve":
      return "reserved";
    case "task_finished":
      return "finished";
    case "task_failed":
      return "failed";
    case "task_canceled":
      return "canceled";
    case "task_retry":
      return data.released ? "requeued" : `attempt ${String(data.attempts)} failed, will retry`;
    default:
      return n.name.replaceAll("_", " ");
  }
}

export function jsonBlock(value: unknown): SafeHtml {
  if (value === null || value === undefined) return html`<p class="empty">none</p>`;
  return html`<pre class="code">${JSON.stringify(value, null, 2)}</pre>`;
}

/**
 * A card named by its heading. A live one is read again when the page's tasks change, and is a
 * polite live region: what changes in it is announced.
 */
export function section(
  id: string,
  title: string,
  body: SafeHtml,
  options: { count?: number; live?: boolean } = {},
) {
  const live = options.live === false ? "" : html` data-live-region aria-live="polite"`;
  return html`<section class="card" id="${id}" aria-labelledby="${id}-title"${live}>
    <h2 id="${id}-title">${title}${options.count === undefined ? "" : html` <span class="count">${options.count}</span>`}</h2>
    ${body}
  </section>`;
}
