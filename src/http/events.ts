import type { Notification } from "../core/types.js";
import { runtimeOf } from "../internals.js";
import type { Taskledger } from "../taskledger.js";
import { securityHeaders } from "./security.js";

/**
 * Server-Sent Events: an owner's notifications as they happen, each with its id so a client that
 * reconnects (`Last-Event-ID`) resumes exactly where it stopped.
 *
 * Every event is read from the ledger, in id order, after the last one sent; the in-process
 * notification feed, the engine's wake-ups (commits by other processes) and a slow timer are only
 * hints to read again. So nothing is skipped, whichever process wrote it.
 */
export interface EventStreamOptions {
  /** `undefined` = every owner (admins). */
  readonly owner: string | undefined;
  /** Send notifications with an id greater than this. */
  readonly after: number;
  readonly signal: AbortSignal;
  /** Comment line to keep proxies from closing an idle stream. */
  readonly heartbeatMs: number;
  /** Read again at least this often, in case no hint arrives. */
  readonly pollMs: number;
  /** Called once when the stream ends, for whatever reason. */
  readonly onClose?: () => void;
}

const BATCH = 200;
/** A client that stops reading is dropped after this many unread events; it resumes on reconnect. */
const MAX_BACKLOG = 2_000;
const WAKE_FOLLOW_UP_MS = 25;

export function notificationToJson(n: Notification): Record<string, unknown> {
  return {
    id: n.id,
    name: n.name,
    owner: n.owner,
    taskId: n.taskId,
    data: n.data,
    createdAt: n.createdAt.toISOString(),
  };
}

export interface EventStream {
  readonly response: Response;
  close(): void;
}

export function openEventStream(tl: Taskledger, options: EventStreamOptions): EventStream {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let lastId = options.after;
  let closed = false;
  let reading = false;
  let again = false;
  const cleanups: (() => void)[] = [];

  const write = (text: string) => {
    if (closed) return;
    controller.enqueue(encoder.encode(text));
    if ((controller.desiredSize ?? 0) < -MAX_BACKLOG) close();
  };

  const close = () => {
    if (closed) return;
    closed = true;
    for (const cleanup of cleanups.splice(0)) cleanup();
    options.onClose?.();
    try {
      controller.close();
    } catch {
      // already closed or canceled by the client
    }
  };

  const pump = async () => {
    if (closed) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        let batch: Notification[];
        do {
          batch = await tl.notifications.after(options.owner, lastId, BATCH);
          for (const n of batch) {
            if (closed) return;
            write(`id: ${n.id}\ndata: ${JSON.stringify(notificationToJson(n))}\n\n`);
            lastId = n.id;
          }
        } while (batch.length === BATCH);
      } while (again && !closed);
    } catch {
      close(); // the ledger is gone (instance closed): the client reconnects and resumes
    } finally {
      reading = false;
    }
  };

  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      write("retry: 2000\n: connected\n\n");
    },
    cancel() {
      close();
    },
  });

  const unsubscribe = tl.notifications.subscribe((n) => {
    if (options.owner === undefined || n.owner === options.owner) void pump();
  });
  // A commit by another process is announced when its WAL frames are written, a moment before
  // readers can see it: read at once, and once more shortly after.
  let followUp: ReturnType<typeof setTimeout> | undefined;
  const unwake = runtimeOf(tl).notifier.subscribe(() => {
    void pump();
    followUp ??= setTimeout(() => {
      followUp = undefined;
      void pump();
    }, WAKE_FOLLOW_UP_MS);
  });
  const poll = setInterval(() => void pump(), options.pollMs);
  const heartbeat = setInterval(() => write(": ping\n\n"), options.heartbeatMs);
  poll.unref?.();
  heartbeat.unref?.();
  const onAbort = () => close();
  options.signal.addEventListener("abort", onAbort);
  cleanups.push(
    unsubscribe,
    unwake,
    () => clearTimeout(followUp),
    () => clearInterval(poll),
    () => clearInterval(heartbeat),
    () => options.signal.removeEventListener("abort", onAbort),
  );
  if (options.signal.aborted) close();
  else void pump();

  const headers = securityHeaders(new Headers(), "data");
  headers.set("content-type", "text/event-stream; charset=utf-8");
  headers.set("cache-control", "no-cache, no-transform");
  headers.set("x-accel-buffering", "no");
  return { response: new Response(stream, { status: 200, headers }), close };
}
