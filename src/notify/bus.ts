import { EventEmitter } from "node:events";
import type { Notification } from "../core/types.js";
import { toNotification } from "../ledger/rows.js";
import type { NotificationRow } from "../ledger/schema.js";

/**
 * The notifications this instance writes, as they commit, to listeners in this process;
 * `announce` tells other processes that some were written.
 */
export class NotificationBus {
  readonly #emitter = new EventEmitter();
  readonly #announce: (() => void) | undefined;
  constructor(announce?: () => void) {
    this.#emitter.setMaxListeners(0);
    this.#announce = announce;
  }
  publish(rows: readonly NotificationRow[]): void {
    if (rows.length === 0) return;
    this.#announce?.();
    if (this.#emitter.listenerCount("notification") === 0) return;
    for (const row of rows) this.#emitter.emit("notification", toNotification(row));
  }
  subscribe(listener: (notification: Notification) => void): () => void {
    this.#emitter.on("notification", listener);
    return () => this.#emitter.off("notification", listener);
  }
}
