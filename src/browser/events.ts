/**
 * Live task updates in a browser: a small client for `GET /api/events` (Server-Sent Events) with
 * typed events, reconnection, and resumption from the last event received.
 *
 * It runs in the browser and imports nothing at run time: serve it as it is, or let your bundler
 * take it from `taskledger/events`.
 */
import type { TaskStatus } from "../core/types.js";

/** One notification as the stream sends it (`GET /api/events`, `GET /api/notifications`). */
interface Note<Name extends string, Data> {
  readonly id: number;
  readonly name: Name;
  readonly owner: string | null;
  readonly taskId: number | null;
  readonly data: Data;
  /** ISO-8601. */
  readonly createdAt: string;
}

export type TaskProgressEvent = Note<
  "task_progress",
  { taskId: number; progress: number; status: TaskStatus; data?: unknown }
>;
export type TaskReservedEvent = Note<"task_reserve", { taskId: number; reservedAt: string }>;
export type TaskRetryEvent = Note<
  "task_retry",
  { taskId: number; attempts: number; retryAt: string; released?: boolean }
>;
export type TaskEndedEvent = Note<
  "task_finished" | "task_failed" | "task_canceled",
  { taskId: number; name: string; status: TaskStatus; failed: boolean }
>;
/** Every event the stream sends today; switch on `name` to narrow `data`. */
export type TaskledgerEvent = TaskProgressEvent | TaskReservedEvent | TaskRetryEvent | TaskEndedEvent;

/** Where a task stands after an event about it — what a progress bar or a status badge needs. */
export interface TaskUpdate {
  readonly taskId: number;
  readonly status: TaskStatus;
  /** 0–100, on progress events (including the 100 every ending sends). */
  readonly progress?: number;
  /** On the ending events: true for a failure and for a cancel. */
  readonly failed?: boolean;
  /** `finished` or `canceled`: nothing more will happen to the task. */
  readonly ended: boolean;
  readonly event: TaskledgerEvent;
}

/** `connecting` at first; `live` while events flow; `reconnecting` after a drop; `closed` after `close()`. */
export type ConnectionState = "connecting" | "live" | "reconnecting" | "closed";

/** A handler property, checked as a method is, so the browser's own `EventSource` fits. */
type Handler<E> = { handle(event: E): void }["handle"] | null;

/** The part of the browser's `EventSource` this client uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: Handler<unknown>;
  onmessage: Handler<{ readonly data: string }>;
  onerror: Handler<unknown>;
  close(): void;
}
export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

export interface SubscribeOptions {
  /**
   * Start after this notification id: the last one the page reflects (the dashboard's pages carry
   * it; `GET /api/notifications` answers `lastId`), so nothing between render and connect is lost.
   * Default: from now on.
   */
  readonly after?: number;
  /** Each event, once, in id order — also those sent while the connection was down. */
  readonly onNotification?: (event: TaskledgerEvent) => void;
  /** Each event about a task, as where that task now stands. */
  readonly onTask?: (update: TaskUpdate) => void;
  readonly onState?: (state: ConnectionState) => void;
  /** Wait before reconnecting when the browser gave up (an error answer), ms; doubles up to `maxRetryMs`. Default 1 000. */
  readonly retryMs?: number;
  /** Default 30 000. */
  readonly maxRetryMs?: number;
  /** Send cookies to another origin (an API on its own host, listed in its `trustedOrigins`). */
  readonly withCredentials?: boolean;
  /** Default: the browser's `EventSource`. */
  readonly EventSource?: EventSourceConstructor;
}

export interface Subscription {
  /** The id of the last event received (or `after`): where a reconnect resumes. */
  readonly lastEventId: number | undefined;
  close(): void;
}

const CLOSED = 2;
const ENDED: readonly TaskStatus[] = ["finished", "canceled"];

/**
 * Follow the caller's notifications from `url` (`/api/events` where the API is mounted).
 *
 * The browser reconnects a dropped stream by itself and resumes after the last event it received
 * (`Last-Event-ID`); when it gives up — the server answered an error, say while restarting — this
 * client opens a new stream from `?after=` the last event received. An event is never delivered
 * twice.
 *
 * ```js
 * import { subscribe } from "taskledger/events";
 * const events = subscribe("/api/events", {
 *   after: Number(document.body.dataset.after),
 *   onTask({ taskId, status, progress }) {
 *     if (progress !== undefined) document.querySelector(`#task-${taskId} progress`).value = progress;
 *   },
 * });
 * // events.close() when the page no longer needs it
 * ```
 */
export function subscribe(url: string, options: SubscribeOptions = {}): Subscription {
  const EventSourceImpl =
    options.EventSource ??
    ((globalThis as { EventSource?: unknown }).EventSource as EventSourceConstructor | undefined);
  if (!EventSourceImpl)
    throw new TypeError("subscribe() needs EventSource (a browser, or options.EventSource)");
  const retryMs = options.retryMs ?? 1_000;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  let lastEventId = options.after;
  let source: EventSourceLike | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wait = retryMs;
  let closed = false;

  const setState = (state: ConnectionState) => options.onState?.(state);

  const receive = (text: string) => {
    let event: TaskledgerEvent;
    try {
      event = JSON.parse(text) as TaskledgerEvent;
    } catch {
      return; // not an event: skipped, as the dashboard does
    }
    if (typeof event?.id !== "number" || (lastEventId !== undefined && event.id <= lastEventId)) return;
    lastEventId = event.id;
    options.onNotification?.(event);
    const update = taskUpdate(event);
    if (update) options.onTask?.(update);
  };

  const connect = () => {
    timer = undefined;
    const from = lastEventId === undefined ? url : withAfter(url, lastEventId);
    const current = new EventSourceImpl(from, { withCredentials: options.withCredentials === true });
    source = current;
    setState("connecting");
    current.onopen = () => {
      wait = retryMs;
      setState("live");
    };
    current.onmessage = (message) => receive(message.data);
    current.onerror = () => {
      if (closed || current !== source) return;
      setState("reconnecting");
      // Still CONNECTING: the browser retries by itself, sending Last-Event-ID.
      if (current.readyState !== CLOSED) return;
      current.close();
      timer = setTimeout(connect, wait);
      wait = Math.min(wait * 2, maxRetryMs);
    };
  };

  connect();
  return {
    get lastEventId() {
      return lastEventId;
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      source?.close();
      setState("closed");
    },
  };
}

/** Where a task stands after `event`; undefined for an event about no task. */
export function taskUpdate(event: TaskledgerEvent): TaskUpdate | undefined {
  const taskId = event.data?.taskId ?? event.taskId;
  if (typeof taskId !== "number") return undefined;
  switch (event.name) {
    case "task_progress":
      return {
        taskId,
        status: event.data.status,
        progress: event.data.progress,
        ended: ENDED.includes(event.data.status),
        event,
      };
    case "task_reserve":
      return { taskId, status: "reserved", ended: false, event };
    case "task_retry":
      return { taskId, status: "queued", ended: false, event };
    case "task_finished":
    case "task_failed":
    case "task_canceled":
      return { taskId, status: event.data.status, failed: event.data.failed, ended: true, event };
    default:
      return undefined;
  }
}

function withAfter(url: string, after: number): string {
  const [path, hash = ""] = url.split("#", 2) as [string, string?];
  const query = path.replace(/([?&])after=[^&]*&?/, "$1").replace(/[?&]$/, "");
  return `${query}${query.includes("?") ? "&" : "?"}after=${after}${hash ? `#${hash}` : ""}`;
}
