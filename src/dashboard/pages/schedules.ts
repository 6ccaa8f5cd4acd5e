import type { Task } from "../../core/types.js";
import type { Schedule } from "../../scheduler/types.js";
import type { Taskledger } from "../../taskledger.js";
import { csrfField, type PageContext, section, taskList, time } from "../components.js";
import { html, type SafeHtml } from "../html.js";
import type { Rendered } from "./task-center.js";

const RUNS = 20;
/** What a stored field that could not be read shows as. */
const INVALID = "invalid";

/** "every 5 min" / "cron 0 9 * * 1-5 (Europe/Paris)", and how many runs remain; "invalid" when unreadable. */
export function describeSpec(s: Schedule): string {
  if (s.unreadable.includes("spec")) return INVALID;
  const base = s.type === "cron" ? `cron ${s.cron} (${s.tz ?? "UTC"})` : `every ${duration(s.every ?? 0)}`;
  return s.repeat === null ? base : `${base}, ${s.repeat} runs in all`;
}

function duration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

/** A time of the schedule, or "invalid" when its stored value could not be read. */
function timeOf(s: Schedule, field: "nextRunAt" | "lastRunAt" | "pausedAt"): SafeHtml {
  if (s.unreadable.includes(field)) return html`<span class="muted">${INVALID}</span>`;
  return time(s[field], { relative: true });
}

/** What each status shown means: the stored words alone (`death` above all) do not say whether it runs. */
const STATUS_MEANINGS = {
  running: "active",
  failed: "its last run failed; still scheduled",
  death: "no longer declared in code; will not run",
  paused: "will not run until resumed",
} as const;

function statusOf(s: Schedule): keyof typeof STATUS_MEANINGS {
  return s.pausedAt ? "paused" : s.status;
}

function scheduleStatus(s: Schedule): SafeHtml {
  const status = statusOf(s);
  return html`<span class="badge schedule-${status}" title="${STATUS_MEANINGS[status]}">${status}</span>`;
}

/** The badge with its meaning in words under it. */
function scheduleStatusExplained(s: Schedule): SafeHtml {
  return html`${scheduleStatus(s)}<div class="muted small">${STATUS_MEANINGS[statusOf(s)]}</div>`;
}

/**
 * Pause / resume as small forms; remove goes to its confirm page first, since it deletes the
 * run history too (admins only reach these pages). Each button names its schedule for screen readers.
 */
function actions(ctx: PageContext, s: Schedule, returnTo: string): SafeHtml {
  const named = (label: string) => html`${label}<span class="sr-only"> schedule ${s.key}</span>`;
  const form = (action: string, label: string) =>
    html`<form method="post" action="${ctx.base}/admin/schedules/${s.id}/${action}" class="inline">
      ${csrfField(ctx)}<input type="hidden" name="return_to" value="${returnTo}">
      <button type="submit" class="button ghost small">${named(label)}</button>
    </form>`;
  return html`<div class="row-actions">
    ${s.status !== "death" ? (s.pausedAt ? form("resume", "Resume") : form("pause", "Pause")) : ""}
    <a class="button danger small" href="${ctx.base}/admin/schedules/${s.id}/remove">${named("Remove")}</a>
  </div>`;
}

/** "its 3 runs", "its run", "no runs" */
function runsOf(s: Schedule): string {
  return s.runCount === 0 ? "no runs" : s.runCount === 1 ? "its run" : `its ${s.runCount} runs`;
}

/** The step before a schedule and its run history are deleted: a page, so it needs no script. */
export function renderRemoveSchedule(ctx: PageContext, s: Schedule): SafeHtml {
  return html`<section class="card confirm" id="confirm-remove">
    <p>Removing schedule <strong>${s.key}</strong> (${describeSpec(s)}) deletes it with ${runsOf(s)}${
      s.runCount === 0 ? "" : html` — each run's task, result and log`
    }. This cannot be undone.</p>
    <div class="actions">
      <form method="post" action="${ctx.base}/admin/schedules/${s.id}/remove" class="inline">
        ${csrfField(ctx)}<input type="hidden" name="confirm" value="remove">
        <button type="submit" class="button danger">Remove ${s.key}${s.runCount === 0 ? "" : ` and ${runsOf(s)}`}</button>
      </form>
      <a class="button ghost" href="${ctx.base}/admin/schedules/${s.id}">Keep it</a>
    </div>
  </section>`;
}

export async function renderSchedules(tl: Taskledger, ctx: PageContext): Promise<Rendered> {
  const lastEventId = await tl.notifications.lastId();
  const [schedules, report] = await Promise.all([tl.schedules.list({ limit: 200 }), tl.status()]);
  const scheduler = report.scheduler;
  const body = html`
    ${section(
      "scheduler",
      "Scheduler",
      html`<p><span class="dot ${scheduler.running ? "dot-ok" : "dot-bad"}"></span>
        ${scheduler.running ? "running" : "not running"}${scheduler.holder ? html` · <code>${scheduler.holder}</code>` : ""}
        ${scheduler.lastSeenAt ? html` · last seen ${time(scheduler.lastSeenAt, { relative: true })}` : ""}</p>
        ${scheduler.running ? "" : html`<p class="muted small">Schedules fire from a worker started with <code>--with-scheduler</code> (or <code>taskledger start</code>).</p>`}`,
    )}
    ${section(
      "schedules",
      "Schedules",
      schedules.length === 0
        ? html`<p class="empty">No schedules. Declare them in the config's <code>schedules</code> or with <code>tl.schedules.schedule()</code>.</p>`
        : html`<div class="table-wrap"><table class="table">
          <thead><tr><th>Schedule</th><th>When</th><th>Status</th><th>Next run</th><th>Last run</th><th class="num">Runs</th><th></th></tr></thead>
          <tbody>${schedules.map(
            (s) => html`<tr data-schedule-id="${s.id}">
              <td><a class="task-title" href="${ctx.base}/admin/schedules/${s.id}">${s.key}</a><div class="muted small">${s.name} · ${s.description}</div></td>
              <td>${describeSpec(s)}</td>
              <td>${scheduleStatusExplained(s)}</td>
              <td>${s.pausedAt ? html`<span class="muted">paused</span>` : timeOf(s, "nextRunAt")}</td>
              <td>${timeOf(s, "lastRunAt")}</td>
              <td class="num">${s.runCount}</td>
              <td>${actions(ctx, s, `${ctx.base}/admin/schedules`)}</td>
            </tr>`,
          )}</tbody></table></div>`,
      { count: schedules.length },
    )}`;
  return { body, lastEventId };
}

export async function renderSchedule(
  tl: Taskledger,
  ctx: PageContext,
  s: Schedule,
  cursor: number | undefined,
): Promise<Rendered> {
  const lastEventId = await tl.notifications.lastId();
  const runs: Task[] = await tl.schedules.runs(s.id, { limit: RUNS, cursor });
  const older = runs.length === RUNS ? runs.at(-1)!.id : undefined;
  const body = html`
    <section class="card" id="schedule" aria-label="Schedule ${s.key}" data-live-region aria-live="polite">
      <div class="task-head"><span class="task-title">${s.key}</span>${scheduleStatus(s)}</div>
      <p class="task-desc">${s.description}</p>
      <dl class="facts">
        <dt>Status</dt><dd>${statusOf(s)} — ${STATUS_MEANINGS[statusOf(s)]}</dd>
        <dt>Task</dt><dd>${s.name}</dd>
        <dt>When</dt><dd>${describeSpec(s)}</dd>
        <dt>Owner</dt><dd>${s.owner ?? "system"}</dd>
        <dt>Queue</dt><dd>${s.queue ?? INVALID}</dd>
        <dt>Next run</dt><dd>${s.pausedAt ? html`paused ${timeOf(s, "pausedAt")}` : timeOf(s, "nextRunAt")}</dd>
        <dt>Last run</dt><dd>${timeOf(s, "lastRunAt")}</dd>
        <dt>Runs</dt><dd>${s.runCount}</dd>
        <dt>Declared in code</dt><dd>${s.declared ? "yes" : "no"}</dd>
      </dl>
      <div class="actions">${actions(ctx, s, `${ctx.base}/admin/schedules/${s.id}`)}</div>
    </section>
    <section class="card" id="payload"><h2>Payload</h2><pre class="code">${s.unreadable.includes("payload") ? INVALID : JSON.stringify(s.payload, null, 2)}</pre></section>
    ${section(
      "runs",
      "Run history",
      html`${taskList(ctx, runs, "No runs yet.")}
      <nav class="pager">
        ${cursor ? html`<a class="button ghost small" href="${ctx.base}/admin/schedules/${s.id}">← Newest</a>` : ""}
        ${older ? html`<a class="button ghost small" href="${ctx.base}/admin/schedules/${s.id}?cursor=${older}">Older →</a>` : ""}
      </nav>`,
    )}`;
  return { body, lastEventId };
}
