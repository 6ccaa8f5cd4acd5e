import { invalid, isTaskledgerError } from "../core/errors.js";
import type { Principal } from "../http/auth.js";
import { describeHttpError, HttpError, notFound } from "../http/errors.js";
import {
  createHttpHandler,
  type HttpHandlerOptions,
  isUnmatched,
  markUnmatched,
  taskId,
} from "../http/handler.js";
import { json, readBody } from "../http/request.js";
import { normalizeBasePath, type Params, Router, withinBase } from "../http/router.js";
import {
  assertSameOrigin,
  csrfToken,
  resolveSecret,
  securityHeaders,
  verifyCsrfToken,
} from "../http/security.js";
import type { Taskledger } from "../taskledger.js";
import { serveAsset } from "./assets.js";
import { csrfField, type PageContext } from "./components.js";
import { clearFlashCookie, type FlashMessage, flashCookie, readFlash } from "./flash.js";
import { html, type SafeHtml } from "./html.js";
import { type Chrome, layout, type NavLink } from "./layout.js";
import { readFilters, renderAdmin } from "./pages/admin.js";
import { renderRemoveSchedule, renderSchedule, renderSchedules } from "./pages/schedules.js";
import { renderTaskCenter } from "./pages/task-center.js";
import { renderTaskDetail } from "./pages/task-detail.js";

export interface DashboardOptions extends HttpHandlerOptions {
  /** Where the pages are mounted. Default `""`. */
  readonly basePath?: string;
  /** Where the API is mounted (routes `${apiBasePath}/api/…`). Default: `basePath`. */
  readonly apiBasePath?: string;
  /** Signs form tokens and flash messages. Default: random per process. */
  readonly secret?: string;
  /** Product name in the top bar. Default "taskledger". */
  readonly brand?: string;
  /** The host app's own pages, listed before the dashboard's. */
  readonly nav?: readonly NavLink[];
  /** Send visitors who are not logged in here (`?next=` added), instead of a 401 page. */
  readonly loginPath?: string;
  /** A POST route of the host app that logs out; adds a button to the top bar. */
  readonly logoutPath?: string;
  /** Largest form body. Default 64 KiB. */
  readonly maxFormBytes?: number;
}

export interface PageContent {
  readonly title: string;
  readonly body: SafeHtml;
  readonly status?: number;
  /** The id of the last notification the page reflects: turns on live updates. */
  readonly lastEventId?: number;
}

/**
 * The dashboard and task center, with the API mounted beside them: one fetch-style handler. Its
 * helpers let the host app render its own pages in the same shell (nav, flash messages, form
 * tokens, live updates).
 */
export interface Dashboard {
  (request: Request): Promise<Response>;
  readonly basePath: string;
  close(): void;
  /** Who sent this request (the `authenticate` option, checked). */
  principal(request: Request): Promise<Principal | null>;
  /** The context page parts need (form token, mount paths, current path). */
  context(request: Request, principal: Principal | null): PageContext;
  /** A full page in the dashboard's shell, with the flash messages waiting for this request. */
  page(request: Request, principal: Principal | null, content: PageContent): Response;
  /** The user's task center (in progress, reserved, last finished, notifications). */
  taskCenter(ctx: PageContext): Promise<{ body: SafeHtml; lastEventId: number }>;
  /** A hidden form-token field for this user's forms. */
  csrfField(ctx: PageContext): SafeHtml;
  /** A form posted by this user from this site, or a 403 `HttpError`. */
  readForm(request: Request, principal: Principal | null, maxBytes?: number): Promise<FormData>;
  /** 303 to `location`, with messages for the next page. */
  redirect(location: string, ...flash: FlashMessage[]): Response;
}

type PageRoute = (request: Request, url: URL, params: Params, principal: Principal) => Promise<Response>;

/**
 * ```ts
 * const dashboard = createDashboardHandler(tl, { authenticate, secret: process.env.SECRET });
 * http.createServer(toNodeHandler(dashboard)).listen(3000);
 * ```
 */
export function createDashboardHandler(tl: Taskledger, options: DashboardOptions): Dashboard {
  const base = normalizeBasePath(options.basePath);
  const apiBase = options.apiBasePath === undefined ? base : normalizeBasePath(options.apiBasePath);
  const secret = resolveSecret(options.secret);
  const maxFormBytes = options.maxFormBytes ?? 64 * 1024;
  const api = createHttpHandler(tl, { ...options, basePath: apiBase });
  const chrome: Chrome = {
    brand: options.brand ?? "taskledger",
    home: options.nav?.[0]?.href ?? `${base}/`,
    nav: withoutRepeats([
      ...(options.nav ?? []),
      { href: `${base}/`, label: "My tasks" },
      { href: `${base}/admin`, label: "All tasks", admin: true },
      { href: `${base}/admin/schedules`, label: "Schedules", admin: true },
    ]),
    logoutPath: options.logoutPath,
    loginPath: options.loginPath,
    assets: `${base}/assets`,
  };

  const router = new Router<PageRoute>()
    .add("GET", "/", taskCenterPage)
    .add("GET", "/tasks/:id", taskPage)
    .add("POST", "/tasks/:id/cancel", cancelTask)
    .add("GET", "/admin", adminPage)
    .add("GET", "/admin/schedules", schedulesPage)
    .add("GET", "/admin/schedules/:id", schedulePage)
    .add("GET", "/admin/schedules/:id/remove", confirmRemoveSchedule)
    .add("POST", "/admin/schedules/:id/:action", changeSchedule);

  async function principalOf(request: Request): Promise<Principal | null> {
    const found = await options.authenticate(request);
    if (!found) return null;
    if (typeof found.user !== "string" || found.user === "") {
      throw new TypeError("authenticate() must return { user: non-empty string, admin: boolean } or null");
    }
    const session = typeof found.session === "string" ? found.session : undefined;
    return { user: found.user, admin: found.admin === true, ...(session === undefined ? {} : { session }) };
  }

  function context(request: Request, principal: Principal | null): PageContext {
    const url = new URL(request.url);
    return {
      principal,
      base,
      apiBase,
      csrf: csrfToken(secret, principal),
      here: url.pathname + url.search,
    };
  }

  function page(request: Request, principal: Principal | null, content: PageContent): Response {
    const flash = readFlash(request, secret);
    const body = layout(context(request, principal), chrome, { ...content, flash });
    const headers = securityHeaders(new Headers({ "content-type": "text/html; charset=utf-8" }), "html");
    if (flash.length > 0) headers.append("set-cookie", clearFlashCookie());
    return new Response(body.value, { status: content.status ?? 200, headers });
  }

  function redirect(location: string, ...flash: FlashMessage[]): Response {
    const headers = securityHeaders(new Headers({ location }), "data");
    if (flash.length > 0) headers.append("set-cookie", flashCookie(secret, flash));
    return new Response(null, { status: 303, headers });
  }

  async function readForm(
    request: Request,
    principal: Principal | null,
    maxBytes = maxFormBytes,
  ): Promise<FormData> {
    assertSameOrigin(request, options.trustedOrigins);
    const type = request.headers.get("content-type") ?? "";
    const bytes = await readBody(request, maxBytes);
    const form = await new Response(bytes, { headers: { "content-type": type } }).formData().catch(() => {
      throw invalid("body", "is not a form");
    });
    if (!verifyCsrfToken(secret, principal, form.get("_csrf"))) {
      throw new HttpError(
        403,
        "forbidden",
        "the form has expired or came from another site: reload the page and try again",
      );
    }
    return form;
  }

  async function taskCenter(ctx: PageContext) {
    return renderTaskCenter(tl, ctx, ctx.principal!.user);
  }

  async function taskCenterPage(request: Request, _url: URL, _params: Params, principal: Principal) {
    const { body, lastEventId } = await taskCenter(context(request, principal));
    return page(request, principal, { title: "My tasks", body, lastEventId });
  }

  async function taskPage(request: Request, _url: URL, params: Params, principal: Principal) {
    const id = taskId(params);
    const lastEventId = await tl.notifications.lastId();
    const task = await tl.tasks.get(id, { owner: principal.admin ? undefined : principal.user });
    if (!task) throw notFound(`There is no task #${id} for you to see.`);
    const body = renderTaskDetail(context(request, principal), task, await tl.tasks.pendingRetry(task));
    return page(request, principal, { title: `Task #${task.id}`, body, lastEventId });
  }

  async function cancelTask(request: Request, _url: URL, params: Params, principal: Principal) {
    const form = await readForm(request, principal);
    const id = taskId(params);
    const outcome = await tl.tasks
      .cancel(id, { owner: principal.admin ? undefined : principal.user })
      .catch((error) => {
        if (isTaskledgerError(error) && error.code === "not_found")
          throw notFound(`There is no task #${id} for you to cancel.`);
        throw error;
      });
    const message: FlashMessage = outcome.ok
      ? {
          kind: "success",
          text:
            outcome.task.status === "running"
              ? `Task #${id} (${outcome.task.name}) is stopping: its cancel was requested.`
              : `Task #${id} (${outcome.task.name}) is canceled.`,
        }
      : { kind: "danger", text: sentence(outcome.reason.replace(/^task (\d+)/, "Task #$1")) };
    if (wantsJson(request)) return json(outcome.ok ? 200 : 409, { ok: outcome.ok, message });
    return redirect(safeReturn(form.get("return_to"), `${base}/`), message);
  }

  async function adminPage(request: Request, url: URL, _params: Params, principal: Principal) {
    assertAdmin(principal);
    const { body, lastEventId } = await renderAdmin(tl, context(request, principal), readFilters(url));
    return page(request, principal, { title: "All tasks", body, lastEventId });
  }

  async function schedulesPage(request: Request, _url: URL, _params: Params, principal: Principal) {
    assertAdmin(principal);
    const { body, lastEventId } = await renderSchedules(tl, context(request, principal));
    return page(request, principal, { title: "Schedules", body, lastEventId });
  }

  async function schedulePage(request: Request, url: URL, params: Params, principal: Principal) {
    assertAdmin(principal);
    const schedule = await scheduleOf(params);
    const cursor = Number(url.searchParams.get("cursor"));
    const ctx = context(request, principal);
    const { body, lastEventId } = await renderSchedule(
      tl,
      ctx,
      schedule,
      Number.isSafeInteger(cursor) && cursor > 0 ? cursor : undefined,
    );
    return page(request, principal, { title: `Schedule ${schedule.key}`, body, lastEventId });
  }

  async function confirmRemoveSchedule(request: Request, _url: URL, params: Params, principal: Principal) {
    assertAdmin(principal);
    const schedule = await scheduleOf(params);
    const body = renderRemoveSchedule(context(request, principal), schedule);
    return page(request, principal, { title: `Remove schedule ${schedule.key}?`, body });
  }

  async function changeSchedule(request: Request, _url: URL, params: Params, principal: Principal) {
    assertAdmin(principal);
    const form = await readForm(request, principal);
    const schedule = await scheduleOf(params);
    const back = safeReturn(form.get("return_to"), `${base}/admin/schedules`);
    let text: string;
    try {
      if (params.action === "pause") {
        await tl.schedules.pause(schedule.id);
        text = `Schedule ${schedule.key} is paused.`;
      } else if (params.action === "resume") {
        await tl.schedules.resume(schedule.id);
        text = `Schedule ${schedule.key} fires again from its next slot.`;
      } else if (params.action === "remove") {
        // Removing deletes the schedule's run history too: only from its confirm page.
        if (form.get("confirm") !== "remove")
          return redirect(`${base}/admin/schedules/${schedule.id}/remove`);
        const { runs } = await tl.schedules.remove(schedule.id);
        return redirect(`${base}/admin/schedules`, {
          kind: "success",
          text: `Schedule ${schedule.key} is removed, with ${runs === 0 ? "no runs" : runs === 1 ? "its run" : `its ${runs} runs`}.`,
        });
      } else {
        throw notFound("no such action");
      }
    } catch (error) {
      if (isTaskledgerError(error) && error.code === "conflict")
        return redirect(back, { kind: "danger", text: error.message });
      throw error;
    }
    return redirect(back, { kind: "success", text });
  }

  async function scheduleOf(params: Params) {
    const raw = params.id ?? "";
    const schedule = /^\d+$/.test(raw) ? await tl.schedules.get(Number(raw)) : undefined;
    if (!schedule) throw notFound(`There is no schedule ${raw}.`);
    return schedule;
  }

  function errorPage(request: Request, principal: Principal | null, error: unknown): Response {
    const { status, body, headers } = describeHttpError(error);
    if (status >= 500 && status !== 503) (options.onError ?? console.error)(error, request);
    if (wantsJson(request)) return json(status, body, headers);
    const titles: Record<number, string> = {
      401: "Log in first",
      403: "Not allowed",
      404: "Not found",
      409: "Conflict",
    };
    const text =
      status >= 500 ? "Something went wrong. Try again in a moment." : sentence(body.error.message);
    return page(request, principal, {
      title: titles[status] ?? (status >= 500 ? "Server error" : "Bad request"),
      status,
      body: html`<section class="card"><p>${text}</p><p><a href="${chrome.home}">Back to the start</a></p></section>`,
    });
  }

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (withinBase(url.pathname, apiBase)?.startsWith("/api/")) {
      const response = await api(request);
      if (!isUnmatched(response)) return response;
    }
    const path = withinBase(url.pathname, base);
    if (path === undefined) return api(request); // the API's 404, marked "not ours" for adapters
    if (path.startsWith("/assets/") && (request.method === "GET" || request.method === "HEAD")) {
      return serveAsset(path.slice("/assets/".length), request) ?? api(request);
    }
    const match = router.match(request.method, path);
    if (match.kind === "none") {
      const principal = await principalOf(request).catch(() => null);
      return markUnmatched(errorPage(request, principal, notFound("There is no such page.")));
    }
    let principal: Principal | null = null;
    try {
      if (match.kind === "wrong_method")
        throw new HttpError(405, "method_not_allowed", `Use ${match.allowed.join(" or ")}.`);
      assertSameOrigin(request, options.trustedOrigins);
      principal = await principalOf(request);
      if (!principal) {
        if (options.loginPath && request.method === "GET") {
          return redirect(`${options.loginPath}?next=${encodeURIComponent(url.pathname + url.search)}`);
        }
        throw new HttpError(401, "unauthorized", "Log in to see your tasks.");
      }
      return await match.handler(request, url, match.params, principal);
    } catch (error) {
      return errorPage(request, principal, error);
    }
  };

  return Object.assign(handler, {
    basePath: base,
    close: () => api.close(),
    principal: principalOf,
    context,
    page,
    taskCenter,
    csrfField,
    readForm,
    redirect,
  });
}

/** The host's link wins where it points where the dashboard's would. */
function withoutRepeats(links: readonly NavLink[]): NavLink[] {
  return links.filter((link, index) => links.findIndex((other) => other.href === link.href) === index);
}

function assertAdmin(principal: Principal): void {
  if (!principal.admin) throw new HttpError(403, "forbidden", "This page is for admins.");
}

function wantsJson(request: Request): boolean {
  return (request.headers.get("accept") ?? "").includes("application/json");
}

/** A message as a sentence: a capital first, a full stop last ("task 3 is canceled" → "Task 3 is canceled."). */
export function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

/** Only a path on this site (not `//evil.test`), else the fallback. */
export function safeReturn(value: unknown, fallback: string): string {
  return typeof value === "string" && /^\/(?![/\\])/.test(value) ? value : fallback;
}
