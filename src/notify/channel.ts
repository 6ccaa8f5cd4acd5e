import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Notifier } from "./notifier.js";

/**
 * A channel between the processes on one server ledger that carries a single message: "the
 * ledger changed", sent by `sender`. PostgreSQL LISTEN/NOTIFY (`postgres.ts`), Redis pub/sub
 * (`redis.ts`), or, where neither is at hand, a poll of the ledger (`polling.ts`).
 */
export interface Channel {
  /** Tell every listening process (this one included) that `sender` committed a change. */
  send?(sender: string): Promise<void>;
  /**
   * Hear senders from now on (called once). `heard(undefined)`: messages may have been missed
   * (the channel reconnected, or a poll saw a change): every listener reads again.
   */
  listen(heard: (sender: string | undefined) => void): void;
  close(): Promise<void>;
}

/** At most one announcement per this many ms per process: a burst of commits is one message. */
export const COALESCE_MS = 5;
/** A send that failed (the server is away) is tried again after this long. */
const RETRY_MS = 1_000;
/** `close()` waits this long at most for the last announcement. */
const FLUSH_MS = 1_000;

/**
 * A notifier over a channel. This process's listeners are woken at once by its own `changed()`
 * (its own messages, heard back, are ignored); other processes hear at most one message per
 * `coalesceMs` from it — the first at once, the rest of a burst in one message at the window's end.
 */
export function createChannelNotifier(
  channel: Channel,
  options: { readonly coalesceMs?: number } = {},
): Notifier & { published(): void; close(): Promise<void> } {
  const coalesceMs = options.coalesceMs ?? COALESCE_MS;
  const token = randomBytes(6).toString("hex");
  const local = new EventEmitter();
  local.setMaxListeners(0);
  let waking = false;
  let listening = false;
  let closed = false;
  /** A change not announced yet. */
  let dirty = false;
  let sending: Promise<void> | undefined;
  let pause: ReturnType<typeof setTimeout> | undefined;

  /** Many signals in one tick are one wake-up. */
  const wake = () => {
    if (waking) return;
    waking = true;
    queueMicrotask(() => {
      waking = false;
      local.emit("wake");
    });
  };

  const rest = (ms: number) => {
    pause = setTimeout(() => {
      pause = undefined;
      pump();
    }, ms);
    pause.unref?.();
  };

  function pump(): void {
    if (!dirty || sending || pause || closed || !channel.send) return;
    dirty = false;
    sending = channel.send(token).then(
      () => rest(coalesceMs),
      () => {
        dirty = true;
        rest(RETRY_MS);
      },
    );
    void sending.finally(() => {
      sending = undefined;
    });
  }

  const announce = () => {
    dirty = true;
    pump();
  };

  return {
    changed() {
      wake();
      announce();
    },
    published: announce,
    subscribe(listener) {
      if (!listening && !closed) {
        listening = true;
        channel.listen((sender) => {
          if (sender === token || closed) return;
          if (sender === undefined && pause) {
            // Back after an outage: what failed to go out goes now.
            clearTimeout(pause);
            pause = undefined;
            pump();
          }
          wake();
        });
      }
      local.on("wake", listener);
      return () => local.off("wake", listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(pause);
      const flush = async () => {
        await sending;
        if (dirty) await channel.send?.(token);
      };
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        flush().catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, FLUSH_MS);
        }),
      ]);
      clearTimeout(timer);
      local.removeAllListeners();
      await channel.close();
    },
  };
}
