import { DISPLAY_STATUSES, type DisplayStatus, type WorkerInfo } from "../../core/types.js";
import { isLive } from "../../ledger/rows.js";
import type { StatusReport, Taskledger } from "../../taskledger.js";
import {
  cancelForm,
  type PageContext,
  progressBar,
  section,
  statusBadge,
  taskLink,
  time,
} from "../components.js";
import { html, type SafeHtml } from "../html.js";
import type { Rendered } from "./task-center.js";

export interface TaskFilters {
  /** As people read it: `failed` and `canceled` apart, `finished` only the tasks that succeeded. */
  readonly status?: DisplayStatus;
  readonly name?: string;
  readonly owner?: string;
  readonly queue?: string;
  readonly cursor?: number;
}

const PAGE = 50;

/** Filters from the query string; unknown values are dropped rather than refused (it is a form). */
export function readFilters(url: URL): TaskFilters {
  const get = (name: string) => url.searchParams.get(name)?.trim() || undefined;
  const status = get("status");
  const cursor = Number(get("cursor"));
  return {
    status: (DISPLAY_STATUSES as readonly string[]).includes(status ?? "")
      ? (status as DisplayStatus)
      : undefined,
    name: get("name"),
    owner: get("owner"),
    queue: get("queue"),
    cursor: Number.isSafeInteger(cursor) && cursor > 0 ? cursor : undefined,
  };
}

/** Every task, filtered, with the queues and workers above: what an operator looks at first. */
export async function renderAdmin(tl: Taskledger, ctx: PageContext, filters: TaskFilters): Promise<Rendered> {
  const lastEventId = await tl.notifications.lastId();
  const [report, tasks] = await Promise.all([
    tl.status(),
    tl.tasks.list({
      displayStatus: filters.status,
      name: filters.name,
      owner: filters.owner,
      queue: filters.queue,
      cursor: filters.cursor,
      limit: PAGE,
    }),
  ]);
  const next = tasks.length === PAGE ? tasks.at(-1)!.id : undefined;
  const query = (extra: Record<string, string | number | undefined>) => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...filters, ...extra }))
      if (value !== undefined) params.set(key, String(value));
    return `${ctx.base}/admin?${params}`;
  };
  const body = html`
    ${section("queues", "Queues", html`${unservedWarnings(report)}${queueTable(report)}`, { live: true })}
    <div class="split">
    ${section("workers", "Workers", workerTable(report.workers, tl.settings.leaseMs), { count: report.workers.length })}
    ${section("scheduler", "Scheduler", schedulerLine(ctx, report))}
    </div>
    <section class="card" id="all-tasks" aria-labelledby="all-tasks-title">
      <h2 id="all-tasks-title">All tasks</h2>
      ${filterForm(ctx, tl, filters)}
      <div id="task-table" data-live-region aria-live="polite">
      ${
        tasks.length === 0
          ? html`<p class="empty">No task matches.</p>`
          : html`<div class="table-wrap"><table class="table">
          <thead><tr><th>Task</th><th>Owner</th><th>Queue</th><th>Status</th><th>Progress</th><th>Created</th><th></th></tr></thead>
          <tbody>${tasks.map(
            (t) => html`<tr data-task-id="${t.id}">
              <td>${taskLink(ctx, t)}<div class="muted small clip">${t.description}</div></td>
              <td>${t.owner ?? html`<span class="muted">system</span>`}</td>
              <td>${t.queue}</td>
              <td>${statusBadge(t)}</td>
              <td class="cell-progress">${progressBar(t)}</td>
              <td>${time(t.createdAt, { relative: true })}</td>
              <td>${cancelForm(ctx, t)}</td>
            </tr>`,
          )}</tbody></table></div>`
      }
      <nav class="pager">
        ${filters.cursor ? html`<a class="button ghost small" href="${query({ cursor: undefined })}">← Newest</a>` : ""}
        ${next ? html`<a class="button ghost small" href="${query({ cursor: next })}">Older →</a>` : ""}
      </nav>
      </div>
    </section>`;
  return { body, lastEventId };
}

function filterForm(ctx: PageContext, tl: Taskledger, f: TaskFilters): SafeHtml {
  const option = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}"${selected ? html` selected` : ""}>${label}</option>`;
  return html`<form method="get" action="${ctx.base}/admin" class="filters">
    <label>Status <select name="status">${option("", "any", !f.status)}${DISPLAY_STATUSES.map((s) => option(s, s, f.status === s))}</select></label>
    <label>Task <select name="name">${option("", "any", !f.name)}${tl.registry.names().map((n) => option(n, n, f.name === n))}</select></label>
    <label>Owner <input name="owner" value="${f.owner ?? ""}" placeholder="any" autocomplete="off"></label>
    <label>Queue <input name="queue" value="${f.queue ?? ""}" placeholder="any" autocomplete="off"></label>
    <div class="filter-actions"><button class="button small" type="submit">Filter</button> <a class="button ghost small" href="${ctx.base}/admin">Reset</a></div>
  </form>`;
}

function schedulerLine(ctx: PageContext, report: StatusReport): SafeHtml {
  const s = report.scheduler;
  return html`<p><span class="dot ${s.running ? "dot-ok" : "dot-bad"}"></span> ${s.running ? "running" : "not running"}${
    s.lastSeenAt ? html` · last seen ${time(s.lastSeenAt, { relative: true })}` : ""
  }</p>
  <p><a href="${ctx.base}/admin/schedules">Schedules and their runs →</a></p>`;
}

/** A warning per queue whose tasks wait with no live worker to take them. */
function unservedWarnings(report: StatusReport): SafeHtml {
  return html`${report.unservedQueues.map(
    ({ queue, waiting }) =>
      html`<p class="notice" role="alert" data-unserved-queue="${queue}"><strong>Queue ${queue}</strong>: ${waiting.toLocaleString("en")} ${waiting === 1 ? "task" : "tasks"} waiting, and no live worker serves it. Start one with <code>taskledger worker --queues ${queue}</code>.</p>`,
  )}`;
}

function queueTable(report: StatusReport): SafeHtml {
  const queues = [...new Set(report.counts.map((c) => c.queue))].sort();
  if (queues.length === 0) return html`<p class="empty">No tasks yet.</p>`;
  const count = (queue: string, status: string) =>
    report.counts.find((c) => c.queue === queue && c.status === status)?.count ?? 0;
  return html`<div class="table-wrap"><table class="table counts">
    <thead><tr><th>Queue</th>${DISPLAY_STATUSES.map((s) => html`<th class="num"><span class="badge status-${s}">${s}</span></th>`)}</tr></thead>
    <tbody>${queues.map(
      (q) =>
        html`<tr><td>${q}</td>${DISPLAY_STATUSES.map((s) => html`<td class="num">${count(q, s).toLocaleString("en")}</td>`)}</tr>`,
    )}</tbody>
  </table></div>`;
}

function workerTable(workers: readonly WorkerInfo[], leaseMs: number): SafeHtml {
  if (workers.length === 0)
    return html`<p class="empty">No worker is running. Start one with <code>npx taskledger worker</code>.</p>`;
  const now = Date.now();
  return html`<div class="table-wrap"><table class="table">
    <thead><tr><th>Worker</th><th>Host · pid</th><th>Queues</th><th>Concurrency</th><th>Started</th><th>Last seen</th></tr></thead>
    <tbody>${workers.map((w) => {
      const alive = isLive(w, now, leaseMs);
      return html`<tr>
        <td class="nowrap"><span class="dot ${alive ? "dot-ok" : "dot-bad"}" title="${alive ? "alive" : "not seen lately"}"></span> <code>${w.id}</code></td>
        <td class="nowrap">${w.host} · ${w.pid}</td>
        <td>${w.queues.join(", ")}</td>
        <td class="num">${w.concurrency}</td>
        <td>${time(w.startedAt, { relative: true })}</td>
        <td>${time(w.lastSeenAt, { relative: true })}</td>
      </tr>`;
    })}</tbody>
  </table></div>`;
}
