import { format } from "node:util";
import { parentPort, workerData } from "node:worker_threads";
import { TaskledgerError } from "../../core/errors.js";
import { type BullmqEngineOptions, createBullmqEngine } from "./engine.js";
import type { FromEngineThread, ToEngineThread } from "./threaded.js";

// The bullmq engine on a thread of its own (threaded.ts): each call arrives as a message and is
// answered by one (`call` 0: nobody waits for the answer); the jobs it fetches ahead, and its
// cancel and delivery signals, are reported as they happen.
const port = parentPort!;
const send = (message: FromEngineThread) => port.postMessage(message);
// What the engine says reaches the process's own console.error (and whatever logger replaced it).
console.error = (...args: unknown[]) => send({ type: "log", text: format(...args) });
const engine = createBullmqEngine(workerData as BullmqEngineOptions, {
  fetched: (deliveries) => send({ type: "ahead", deliveries }),
  gone: (jobIds) => send({ type: "gone", jobIds }),
});
const subscribed = new Set<string>();

port.on("message", (message: ToEngineThread) => {
  if (message.type === "subscribe") {
    if (subscribed.has(message.event)) return;
    subscribed.add(message.event);
    if (message.event === "cancel") engine.onCancel((ids) => send({ type: "event", event: "cancel", ids }));
    else engine.onDelivered?.(() => send({ type: "event", event: "delivered" }));
    return;
  }
  const { call, method, args } = message;
  const fn = engine[method] as (...args: unknown[]) => unknown;
  Promise.resolve()
    .then(() => fn.apply(engine, args))
    .then(
      (value) => {
        if (call !== 0) send({ type: "reply", call, value });
        if (method === "close") port.close();
      },
      (error: unknown) => {
        if (call !== 0) send({ type: "reply", call, error: serialize(error) });
        else console.error(`taskledger bullmq engine: ${String(error)}`);
      },
    );
});

function serialize(error: unknown): NonNullable<Extract<FromEngineThread, { type: "reply" }>["error"]> {
  if (error instanceof TaskledgerError)
    return { message: error.message, code: error.code, ...(error.field ? { field: error.field } : {}) };
  return { message: String((error as Error)?.message ?? error) };
}
