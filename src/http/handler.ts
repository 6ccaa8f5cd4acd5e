import { readFileSync } from "node:fs";
import { invalid, TaskledgerError } from "../core/errors.js";
import { publicLog } from "../core/task-log.js";
import { DISPLAY_STATUSES, type Task } from "../core/types.js";
import { SCHEDULE_STATUSES, type Schedule } from "../scheduler/types.js";
import type { Taskledger } from "../taskledger.js";
import { type Authenticate, ownerScope, type Principal } from "./auth.js";
import { describeHttpError, HttpError, notFound } from "./errors.js";
import { notificationToJson, openEventStream } from "./events.js";
import { scheduleToJson, taskToJson } from "./presenters.js";
import { defaultMaxBodyBytes, json, queryInt, queryString, readJsonObject } from "./request.js";
import { normalizeBasePath, type Params, Router, withinBase } from "./router.js";
import { assertSameOrigin } from "./security.js";

export interface HttpHandlerOptions {
  /** Who sent the request: `{ user, admin }`, or `null` (401: no task data without authentication). */
  readonly authenticate: Authenticate;
  /** Where the app mounts the API: routes are `${basePath}/api/…`. Default `""`. */
  readonly basePath?: string;
  /** Other origins allowed to change state (e.g. a separate front end). */
  readonly trustedOrigins?: readonly string[];
  /** Largest accepted request body (413 above). Default the instance's `maxJsonBytes` + 64 KiB. */
  readonly maxBodyBytes?: number;
  /** May this user enqueue this task through `POST /api/tasks`? Default: any registered task. */
  readonly canEnqueue?: (principal: Principal, taskName: string) => boolean;
  /** Errors that are not the client's fault (500s). Default: `console.error`. */
  readonly onError?: (error: unknown, request: Request) => void;
  /** SSE keep-alive comment interval, ms. Default 15 000. */
  readonly heartbeatMs?: number;
}

/** A web-standard handler: `Request` in, `Response` out (testable without a server). */
export interface HttpHandler {
  (request: Request): Promise<Response>;
  /** The mount path given in the options, normalized. */
  readonly basePath: string;
  /** End open event streams (call before closing the server). */
  close(): void;
}

interface RouteContext {
  readonly request: Request;
  readonly url: URL;
  readonly params: Params;
  readonly principal: Principal;
}

type Route = (ctx: RouteContext) => Promise<Response> | Response;

const unmatched = new WeakSet<Response>();

/** Mark the 404 of a path outside every route, so adapters pass the request on (`next()`). */
export function markUnmatched(response: Response): Response {
  unmatched.add(response);
  return response;
}

export function isUnmatched(response: Response): boolean {
  return unmatched.has(response);
}

const VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * The HTTP API of DESIGN §3 as one fetch-style handler. Every route but `/api/health` needs an
 * authenticated user; a user reads, streams and cancels only their own tasks (another user's
 * id is 404), an admin everyone's. State changes from another site are refused (403).
 *
 * ```ts
 * const api = createHttpHandler(tl, { authenticate: (req) => sessionUser(req) });
 * const response = await api(new Request("http://app/api/tasks"));
 * // node:http: http.createServer(toNodeHandler(api)).listen(3000)
 * ```
 */
export function createHttpHandler(tl: Taskledger, options: HttpHandlerOptions): HttpHandler {
  if (typeof options?.authenticate !== "function")
    throw invalid("authenticate", "must be a function (request) => { user, admin } | null");
  const basePath = normalizeBasePath(options.basePath);
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes(tl.settings.maxJsonBytes);
  const canEnqueue = options.canEnqueue ?? (() => true);
  const onError = options.onError ?? ((error: unknown) => console.error("taskledger http:", error));
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const streams = new Set<{ close(): void }>();

  const router = new Router<Route>()
    .add("GET", "/api/tasks", listTasks)
    .add("POST", "/api/tasks", createTask)
    .add("GET", "/api/tasks/:id", showTask)
    .add("POST", "/api/tasks/:id/cancel", cancelTask)
    .add("GET", "/api/schedules", listSchedules)
    .add("GET", "/api/schedules/:id", showSchedule)
    .add("POST", "/api/schedules/:id/pause", (ctx) => changeSchedule(ctx, (ref) => tl.schedules.pause(ref)))
    .add("POST", "/api/schedules/:id/resume", (ctx) => changeSchedule(ctx, (ref) => tl.schedules.resume(ref)))
    .add("DELETE", "/api/schedules/:id", removeSchedule)
    .add("GET", "/api/notifications", listNotifications)
    .add("GET", "/api/events", events)
    .add("GET", "/api/status", status);

  async function listTasks({ url, principal }: RouteContext) {
    const limit = queryInt(url, "limit") ?? 50;
    const tasks = await tl.tasks.list({
      owner: ownerScope(principal, queryString(url, "owner")),
      displayStatus: parseChoices(queryString(url, "status"), DISPLAY_STATUSES, "status"),
      name: queryString(url, "name"),
      queue: queryString(url, "queue"),
      failed: parseBoolean(url, "failed"),
      scheduleId: queryInt(url, "scheduleId"),
      cursor: queryInt(url, "cursor"),
      limit,
    });
    const full = tasks.length === Math.min(limit, 200);
    return json(200, {
      tasks: tasks.map((t) => taskJson(t, principal)),
      nextCursor: full ? tasks.at(-1)!.id : null,
    });
  }

  async function createTask({ request, principal }: RouteContext) {
    const body = await readJsonObject(request, maxBodyBytes);
    const { task, payload = null, description, runAt, queue } = body;
    if (typeof task !== "string" || task === "") throw invalid("task", "must be the name of a task");
    tl.registry.resolve(task);
    if (!canEnqueue(principal, task))
      throw new HttpError(403, "forbidden", `task: you may not start "${task}"`, "task");
    const opts = {
      description: description as string,
      owner: principal.user,
      queue: queue as string | undefined,
      idempotencyKey: request.headers.get("idempotency-key"),
    };
    const { task: recorded, created } =
      runAt === undefined || runAt === null
        ? await tl.tasks.enqueueResult(task, payload, opts)
        : await tl.tasks
            .reserveResult(runAt as string | number, task, payload, opts)
            .catch((error: unknown) => {
              throw renameField(error, "at", "runAt");
            });
    const headers = { location: `${basePath}/api/tasks/${recorded.id}` };
    if (created) return json(201, taskJson(recorded, principal), headers);
    // A repeated `Idempotency-Key`: the task its first request recorded, nothing new written.
    return json(200, taskJson(recorded, principal), { ...headers, "idempotent-replayed": "true" });
  }

  async function showTask({ params, principal }: RouteContext) {
    return json(200, taskJson(await ownTask(params, principal), principal));
  }

  async function cancelTask({ params, principal }: RouteContext) {
    const outcome = await tl.tasks.cancel(taskId(params), { owner: ownerScope(principal) });
    if (outcome.ok) return json(200, taskJson(outcome.task, principal));
    return json(409, {
      error: { code: "conflict", message: outcome.reason },
      ...(outcome.task ? { task: taskJson(outcome.task, principal) } : {}),
    });
  }

  async function listSchedules({ url, principal }: RouteContext) {
    const schedules = await tl.schedules.list({
      owner: ownerScope(principal, queryString(url, "owner")),
      status: parseChoices(queryString(url, "status"), SCHEDULE_STATUSES, "status"),
      after: queryString(url, "after"),
      limit: queryInt(url, "limit"),
    });
    const withRuns = await Promise.all(
      schedules.map(async (schedule) => ({
        ...scheduleToJson(schedule),
        runs: (await tl.schedules.runs(schedule.id, { limit: 5 })).map((t) => taskJson(t, principal)),
      })),
    );
    return json(200, { schedules: withRuns, nextAfter: schedules.length > 0 ? schedules.at(-1)!.key : null });
  }

  async function showSchedule({ url, params, principal }: RouteContext) {
    const schedule = await ownSchedule(params, principal);
    const runs = await tl.schedules.runs(schedule.id, {
      limit: queryInt(url, "limit") ?? 20,
      cursor: queryInt(url, "cursor"),
    });
    return json(200, { ...scheduleToJson(schedule), runs: runs.map((t) => taskJson(t, principal)) });
  }

  async function changeSchedule(
    { params, principal }: RouteContext,
    change: (id: number) => Promise<Schedule>,
  ) {
    const schedule = await adminSchedule(params, principal);
    return json(200, scheduleToJson(await change(schedule.id)));
  }

  async function removeSchedule({ params, principal }: RouteContext) {
    const schedule = await adminSchedule(params, principal);
    const removed = await tl.schedules.remove(schedule.id);
    return json(200, { schedule: scheduleToJson(removed.schedule), runsRemoved: removed.runs });
  }

  /** By id or key; another owner's schedule is "not found" to a user. */
  async function ownSchedule(params: Params, principal: Principal): Promise<Schedule> {
    const raw = params.id ?? "";
    const schedule = await tl.schedules.get(/^\d+$/.test(raw) ? Number(raw) : raw);
    if (!schedule || (!principal.admin && schedule.owner !== principal.user))
      throw notFound(`no schedule ${raw}`);
    return schedule;
  }

  async function adminSchedule(params: Params, principal: Principal): Promise<Schedule> {
    const schedule = await ownSchedule(params, principal);
    if (!principal.admin) throw new HttpError(403, "forbidden", "only admins change schedules");
    return schedule;
  }

  async function listNotifications({ url, principal }: RouteContext) {
    const after = queryInt(url, "after", 0) ?? 0;
    const notifications = await tl.notifications.after(
      ownerScope(principal),
      after,
      queryInt(url, "limit") ?? 100,
    );
    return json(200, {
      notifications: notifications.map(notificationToJson),
      lastId: notifications.at(-1)?.id ?? after,
    });
  }

  async function events({ request, url, principal }: RouteContext) {
    const entry = { close: () => {} };
    const stream = openEventStream(tl, {
      owner: ownerScope(principal),
      after: await resumePoint(request, url),
      signal: request.signal,
      heartbeatMs,
      pollMs: tl.settings.pollIntervalMs,
      onClose: () => streams.delete(entry),
    });
    entry.close = stream.close;
    if (!request.signal.aborted) streams.add(entry);
    return stream.response;
  }

  /** `Last-Event-ID` (a reconnecting browser), else `?after=`, else from now on. */
  async function resumePoint(request: Request, url: URL): Promise<number> {
    const header = request.headers.get("last-event-id");
    if (header !== null && header.trim() !== "") {
      const id = Number(header);
      if (!Number.isSafeInteger(id) || id < 0) throw invalid("Last-Event-ID", "must be a notification id");
      return id;
    }
    return queryInt(url, "after", 0) ?? (await tl.notifications.lastId());
  }

  async function status({ principal }: RouteContext) {
    const report = await tl.status({ owner: ownerScope(principal) });
    return json(200, {
      counts: report.counts,
      queues: countsByQueue(report.counts),
      unservedQueues: report.unservedQueues,
      workers: principal.admin
        ? report.workers.map((w) => ({
            ...w,
            startedAt: w.startedAt.toISOString(),
            lastSeenAt: w.lastSeenAt.toISOString(),
          }))
        : undefined,
      scheduler: {
        running: report.scheduler.running,
        lastSeenAt: report.scheduler.lastSeenAt?.toISOString() ?? null,
        ...(principal.admin
          ? {
              holder: report.scheduler.holder,
              since: report.scheduler.since?.toISOString() ?? null,
              expiresAt: report.scheduler.expiresAt?.toISOString() ?? null,
            }
          : {}),
      },
    });
  }

  async function ownTask(params: Params, principal: Principal): Promise<Task> {
    const id = taskId(params);
    const task = await tl.tasks.get(id, { owner: ownerScope(principal) });
    if (!task) throw notFound(`no task ${id}`);
    return task;
  }

  async function authenticated(request: Request): Promise<Principal> {
    const principal = await options.authenticate(request);
    if (!principal) throw new HttpError(401, "unauthorized", "log in first");
    if (typeof principal.user !== "string" || principal.user === "") {
      throw new TypeError("authenticate() must return { user: non-empty string, admin: boolean } or null");
    }
    return { user: principal.user, admin: principal.admin === true };
  }

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = withinBase(url.pathname, basePath);
    if (path === "/api/health") return json(200, { ok: true, version: VERSION, engine: tl.ledger.engine });
    const match = path === undefined ? ({ kind: "none" } as const) : router.match(request.method, path);
    if (match.kind === "none")
      return markUnmatched(json(404, { error: { code: "not_found", message: "no such route" } }));
    try {
      if (match.kind === "wrong_method") {
        throw new HttpError(405, "method_not_allowed", `use ${match.allowed.join(" or ")}`);
      }
      assertSameOrigin(request, options.trustedOrigins);
      const principal = await authenticated(request);
      return await match.handler({ request, url, params: match.params, principal });
    } catch (error) {
      const { status, body, headers } = describeHttpError(error);
      if (status >= 500 && status !== 503) onError(error, request);
      if (status === 405 && match.kind === "wrong_method") headers.allow = match.allowed.join(", ");
      return json(status, body, headers);
    }
  };

  return Object.assign(handler, {
    basePath,
    close() {
      for (const stream of [...streams]) stream.close();
    },
  });
}

export function taskId(params: Params): number {
  const raw = params.id ?? "";
  const id = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(id) || id < 1) throw notFound(`no task ${raw}`);
  return id;
}

/**
 * A task as the API shows it to `principal`: admins read its whole log; its owner reads each
 * entry's message without the stacks and causes under it (they can hold the server's internals).
 */
export function taskJson(task: Task, principal: Principal): Record<string, unknown> {
  const json = taskToJson(task);
  return principal.admin ? json : { ...json, log: publicLog(task.log) };
}

/** The library names the reservation time `at`; the API's body calls it `runAt`. */
function renameField(error: unknown, from: string, to: string): unknown {
  if (!(error instanceof TaskledgerError) || error.field !== from) return error;
  return new TaskledgerError(error.code, to + error.message.slice(from.length), { field: to });
}

/** A comma-separated list of names from a closed set. */
function parseChoices<T extends string>(
  raw: string | undefined,
  allowed: readonly T[],
  field: string,
): T[] | undefined {
  if (raw === undefined) return undefined;
  const values = raw.split(",").map((s) => s.trim());
  for (const value of values) {
    if (!(allowed as readonly string[]).includes(value)) {
      throw invalid(field, `unknown status "${value}" (one of ${allowed.join(", ")})`);
    }
  }
  return values as T[];
}

function parseBoolean(url: URL, name: string): boolean | undefined {
  const raw = queryString(url, name);
  if (raw === undefined) return undefined;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw invalid(name, `must be true or false (got "${raw}")`);
}

function countsByQueue(counts: readonly { queue: string; status: string; count: number }[]) {
  const queues: Record<string, Record<string, number>> = {};
  for (const { queue, status, count } of counts) {
    queues[queue] ??= Object.fromEntries(DISPLAY_STATUSES.map((s) => [s, 0]));
    queues[queue]![status] = count;
  }
  return queues;
}
