import { withdrawalOf } from "../ledger/rows.js";
import type { NotificationRow, TaskRow } from "../ledger/schema.js";
import type { Delivery, Engine, TakeRequest, Tx, Withdrawal } from "./contract.js";

/**
 * What a ledger transaction owes the rest of the world once it commits — the one dispatcher
 * every engine call goes through, so that what happens after a commit is written once:
 * deliveries and withdrawals for an engine outside the ledger's database, cancel signals,
 * the notifications it wrote (to this process's listeners), and "the ledger changed".
 * An engine in the ledger's database (or whose queue is the ledger) acts inside the transaction.
 */
export class Commit {
  readonly notifications: NotificationRow[] = [];
  #deliveries: Delivery[] = [];
  #withdrawn: Withdrawal[] = [];
  #cancels: number[] = [];
  #taken: Delivery[] = [];
  /** Takes under way (settled either way): a round that fails waits for them, to hand back what they got. */
  #taking: Promise<unknown>[] = [];
  #changed = false;

  constructor(
    readonly engine: Engine,
    readonly tx: Tx,
  ) {}

  /**
   * These waiting rows' next attempts may start at their `run_at` (`toDelivery`). The rows are
   * mapped only for an engine that carries deliveries: the embedded engine's queue is the rows.
   */
  async deliver<R>(rows: readonly R[], toDelivery: (row: R) => Delivery): Promise<void> {
    if (rows.length === 0) return;
    this.#changed = true;
    if (this.engine.delivery === "ledger") return;
    const deliveries = rows.map(toDelivery);
    if (this.engine.delivery === "after-commit") this.#deliveries.push(...deliveries);
    else await this.engine.deliver(deliveries, this.tx);
  }

  /** These waiting tasks will never start: take back the delivery of their next attempt. */
  async withdraw(rows: readonly Pick<TaskRow, "id" | "attempts" | "queue">[]): Promise<void> {
    if (rows.length === 0) return;
    this.#changed = true;
    if (this.engine.delivery === "ledger") return;
    const withdrawn = rows.map(withdrawalOf);
    if (this.engine.delivery === "after-commit") this.#withdrawn.push(...withdrawn);
    else await this.engine.withdraw(withdrawn, this.tx);
  }

  /**
   * Take due deliveries for a worker's round; the engine hears once the round commits (`taken`).
   * An engine outside the ledger (`after-commit`) does not use the transaction: its take may run
   * while the round writes, and a round that fails meanwhile still hands back what it got.
   */
  take(request: TakeRequest): Promise<Delivery[]> {
    const taking = this.engine.take(request, this.tx).then((deliveries) => {
      if (this.engine.taken && deliveries.length > 0) this.#taken.push(...deliveries);
      return deliveries;
    });
    this.#taking.push(taking.catch(() => {}));
    return taking;
  }

  /**
   * A cancel was requested for these running tasks: tell whoever holds them — when the
   * transaction ends (`sealed`) for an engine in the ledger's database, after the commit for any
   * other.
   */
  cancel(ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.#changed = true;
    this.#cancels.push(...ids);
  }

  /**
   * The transaction's work is done and it is about to commit: an engine in the ledger's database
   * sends its cancel signals inside it (they leave at the commit).
   */
  async sealed(): Promise<void> {
    if (this.engine.delivery !== "transaction" || this.#cancels.length === 0) return;
    await this.engine.signalCancel(this.#cancels.splice(0), this.tx);
  }

  /** The transaction failed: what the round took goes back to the engine at once. */
  async failed(onError: (error: unknown) => void): Promise<void> {
    await Promise.all(this.#taking);
    if (this.#taken.length > 0) await this.engine.untaken?.(this.#taken.splice(0)).catch(onError);
  }

  publish(rows: readonly NotificationRow[]): void {
    if (rows.length > 0) this.notifications.push(...rows);
  }

  /** The transaction changed something others wait for (a status, a schedule). */
  changed(): void {
    this.#changed = true;
  }

  /**
   * After the commit. A delivery that fails here is not lost: the task waits in the ledger, and
   * the relay delivers it again.
   */
  async committed(hooks: {
    publish(rows: readonly NotificationRow[]): void;
    changed(): void;
    onDeliveryError(error: unknown): void;
  }): Promise<void> {
    hooks.publish(this.notifications);
    if (this.#taken.length > 0) await this.engine.taken?.(this.#taken).catch(hooks.onDeliveryError);
    if (this.#withdrawn.length > 0)
      await this.engine.withdraw(this.#withdrawn, undefined).catch(hooks.onDeliveryError);
    if (this.#deliveries.length > 0)
      await this.engine.deliver(this.#deliveries, undefined).catch(hooks.onDeliveryError);
    if (this.#cancels.length > 0) void this.engine.signalCancel(this.#cancels)?.catch(hooks.onDeliveryError);
    // Published notifications reach this process's listeners by `publish`; other processes see
    // the commit itself. `changed` is for what waiting parties must act on (new work, a cancel).
    if (this.#changed) hooks.changed();
  }
}
