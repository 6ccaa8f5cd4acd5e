import { EventEmitter } from "node:events";
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";

/**
 * Change signals for one SQLite database. In this process an event is enough. Other processes
 * write to the same SQLite file, and every commit in WAL mode changes `<file>-wal`: watching it
 * (inotify on Linux) wakes idle workers within a millisecond or two, with no polling loop.
 * Wake-ups are hints — a worker that wakes checks the table — so spurious ones are harmless.
 */
interface Channel {
  readonly emitter: EventEmitter;
  watcher: FSWatcher | undefined;
  pending: boolean;
}

const channels = new Map<string, Channel>();

function channel(identity: string): Channel {
  let found = channels.get(identity);
  if (!found) {
    found = { emitter: new EventEmitter(), watcher: undefined, pending: false };
    found.emitter.setMaxListeners(0);
    channels.set(identity, found);
  }
  return found;
}

/** Coalesce bursts: many commits in one tick are one wake-up. */
function emit(ch: Channel): void {
  if (ch.pending) return;
  ch.pending = true;
  queueMicrotask(() => {
    ch.pending = false;
    ch.emitter.emit("wake");
  });
}

export function wake(identity: string): void {
  const ch = channels.get(identity);
  if (ch) emit(ch);
}

export function subscribeWake(identity: string, file: string | undefined, listener: () => void): () => void {
  const ch = channel(identity);
  ch.emitter.on("wake", listener);
  if (file && !ch.watcher) {
    const wal = `${basename(file)}-wal`;
    try {
      ch.watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === wal) emit(ch);
      });
      ch.watcher.on("error", () => {
        ch.watcher?.close();
        ch.watcher = undefined;
      });
    } catch {
      ch.watcher = undefined; // no file watching here: workers fall back to their poll interval
    }
  }
  return () => {
    ch.emitter.off("wake", listener);
    if (ch.emitter.listenerCount("wake") === 0) {
      ch.watcher?.close();
      channels.delete(identity);
    }
  };
}
