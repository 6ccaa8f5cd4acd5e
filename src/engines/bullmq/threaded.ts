import { EventEmitter } from "node:events";
import { Worker as Thread } from "node:worker_threads";
import { type ErrorCode, TaskledgerError } from "../../core/errors.js";
import type { Delivery, Engine, TakeRequest } from "../../engine/contract.js";
import type { BullmqEngineOptions } from "./engine.js";
import { jobIdOf, pickAhead } from "./shared.js";

type Method =
  | "migrate"
  | "deliver"
  | "redeliver"
  | "withdraw"
  | "take"
  | "claim"
  | "taken"
  | "untaken"
  | "nextDue"
  | "signalCancel"
  | "generation"
  | "close";

export type ToEngineThread =
  | { readonly type: "call"; readonly call: number; readonly method: Method; readonly args: unknown[] }
  | { readonly type: "subscribe"; readonly event: "cancel" | "delivered" };
export type FromEngineThread =
  | {
      readonly type: "reply";
      readonly call: number;
      readonly value?: unknown;
      readonly error?: { readonly message: string; readonly code?: ErrorCode; readonly field?: string };
    }
  | { readonly type: "ahead"; readonly deliveries: readonly Delivery[] }
  | { readonly type: "gone"; readonly jobIds: readonly string[] }
  | { readonly type: "log"; readonly text: string }
  | { readonly type: "event"; readonly event: "cancel"; readonly ids: readonly number[] }
  | { readonly type: "event"; readonly event: "delivered" };

/**
 * The thread's entry. Run from the TypeScript sources (the tests), the thread loads the built
 * one, which `npm test` builds first: a thread cannot load TypeScript.
 */
const ENTRY = import.meta.url.endsWith(".ts")
  ? new URL("../../../dist/engines/bullmq/thread-entry.js", import.meta.url)
  : new URL("./thread-entry.js", import.meta.url);

/**
 * The bullmq engine (engine.ts) with its Redis connections on a thread of its own. What the
 * engine does for a round — BullMQ's Lua calls, its job objects, ioredis's parsing — then runs
 * beside the worker's ledger statements instead of between them; each call is a message each way.
 *
 * The jobs the engine fetches ahead for a worker's next round are reported here as they arrive,
 * so a round that finds enough of them takes them at once, telling the thread which (`claim`),
 * without waiting for its answer; a round that needs more asks the thread (`take`).
 */
export function createThreadedBullmqEngine(options: BullmqEngineOptions): Engine {
  const thread = new Thread(ENTRY, { workerData: options });
  const replies = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  const signals = new EventEmitter();
  signals.setMaxListeners(0);
  const subscribed = new Set<string>();
  /** The deliveries of the jobs the thread holds fetched ahead, in fetch order. */
  let ahead: Delivery[] = [];
  let calls = 0;
  let closing: Promise<void> | undefined;
  let dead: Error | undefined;

  /** The thread keeps the process alive only while a call is under way or someone listens (as its connections did). */
  const keepAlive = () => (replies.size > 0 || subscribed.size > 0 ? thread.ref() : thread.unref());
  keepAlive();

  const without = (jobIds: readonly string[]) => {
    const gone = new Set(jobIds);
    ahead = ahead.filter((d) => !gone.has(jobIdOf(d)));
  };
  thread.on("message", (message: FromEngineThread) => {
    switch (message.type) {
      case "ahead":
        ahead.push(...message.deliveries);
        return;
      case "gone":
        return without(message.jobIds);
      case "log":
        return console.error(message.text);
      case "event":
        if (message.event === "cancel") signals.emit("cancel", message.ids);
        else signals.emit("delivered");
        return;
      case "reply": {
        const reply = replies.get(message.call);
        if (!reply) return;
        replies.delete(message.call);
        keepAlive();
        if (!message.error) return reply.resolve(message.value);
        const { message: text, code, field } = message.error;
        reply.reject(code ? new TaskledgerError(code, text, field ? { field } : {}) : new Error(text));
      }
    }
  });
  const fail = (error: Error) => {
    dead ??= error;
    for (const reply of replies.values()) reply.reject(dead);
    replies.clear();
    ahead = [];
    keepAlive();
  };
  thread.on("error", (error) => {
    console.error(`taskledger bullmq engine: its thread failed: ${String(error?.stack ?? error)}`);
    fail(
      new TaskledgerError(
        "unavailable",
        `the bullmq engine's thread failed: ${String(error?.message ?? error)}`,
      ),
    );
  });
  thread.on("exit", () => fail(new TaskledgerError("closed", "the bullmq engine is closed")));

  function call<T>(method: Method, ...args: unknown[]): Promise<T> {
    if (dead) return Promise.reject(dead);
    const id = ++calls;
    const answer = new Promise<T>((resolve, reject) => {
      replies.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    thread.postMessage({ type: "call", call: id, method, args } satisfies ToEngineThread);
    keepAlive();
    return answer;
  }
  /** A call whose answer nobody waits for. */
  function tell(method: Method, ...args: unknown[]): void {
    if (!dead) thread.postMessage({ type: "call", call: 0, method, args } satisfies ToEngineThread);
  }
  function subscribe(event: "cancel" | "delivered", listener: (...args: any[]) => void): () => void {
    signals.on(event, listener);
    if (!subscribed.has(event) && !dead) {
      subscribed.add(event);
      thread.postMessage({ type: "subscribe", event } satisfies ToEngineThread);
      keepAlive();
    }
    return () => signals.off(event, listener);
  }

  /** Due deliveries fetched ahead for these queues, in the round's order, up to `limit`. */
  function fromAhead(request: TakeRequest): Delivery[] {
    if (ahead.length === 0) return [];
    const picked = pickAhead(
      ahead,
      (d) => d,
      request.queues,
      request.limit,
      (d) => d.runAt <= request.now,
    );
    const set = new Set(picked);
    ahead = ahead.filter((d) => !set.has(d));
    return picked;
  }

  return {
    name: "bullmq",
    delivery: "after-commit",
    migrate: () => call("migrate"),
    deliver: (deliveries) => call("deliver", deliveries),
    redeliver: (deliveries) => call("redeliver", deliveries),
    withdraw: (withdrawals) => call("withdraw", withdrawals),
    async take(request) {
      const picked = fromAhead(request);
      const jobIds = picked.map(jobIdOf);
      if (picked.length > 0 && picked.length === request.limit) {
        tell("claim", request, jobIds);
        return picked;
      }
      return call<Delivery[]>("take", request, undefined, jobIds);
    },
    async taken(deliveries) {
      tell("taken", deliveries);
    },
    untaken: (deliveries) => call("untaken", deliveries),
    nextDue: (names, now) => call("nextDue", names, now),
    generation: () => call("generation"),
    signalCancel(ids) {
      tell("signalCancel", ids);
    },
    onCancel: (listener) => subscribe("cancel", listener),
    onDelivered: (listener) => subscribe("delivered", listener),
    close() {
      closing ??= (async () => {
        signals.removeAllListeners();
        subscribed.clear();
        if (!dead) await call("close").catch(() => {});
        await thread.terminate();
      })();
      return closing;
    },
  };
}
