import { Worker as Thread } from "node:worker_threads";
import type { Task } from "../core/types.js";
import type { TaskContext, TaskDefinition } from "../tasks/define.js";

/** Messages between an attempt and its thread (see thread-entry.ts). */
export type ToThread =
  | { readonly type: "abort"; readonly reason: SerializedError }
  | {
      readonly type: "reply";
      readonly call: number;
      readonly value?: unknown;
      readonly error?: SerializedError;
    };
export type FromThread =
  | {
      readonly type: "call";
      readonly call: number;
      readonly method: "setProgress";
      readonly args: [number, Record<string, unknown>?];
    }
  | {
      readonly type: "call";
      readonly call: number;
      readonly method: "pointOfNoReturn";
      readonly args: [string?];
    }
  | { readonly type: "done"; readonly value: unknown }
  | { readonly type: "failed"; readonly error: SerializedError };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export interface ThreadData {
  readonly module: string;
  readonly name: string;
  readonly task: Task;
}

const ENTRY = new URL("./thread-entry.js", import.meta.url);

/**
 * Run a handler on a worker thread of its own (`isolation: "thread"`). Progress and the point of
 * no return are forwarded to `ctx` on this thread; `ctx.signal` is forwarded to the handler's own
 * signal. The thread is terminated as soon as the attempt ends (`ended`), whatever its handler is
 * doing: a timed-out or ignored cancel cannot leave CPU-bound work running on.
 */
export function runInThread(
  definition: TaskDefinition,
  task: Task,
  ctx: TaskContext,
  ended: Promise<unknown>,
): Promise<unknown> {
  const data: ThreadData = { module: definition.module!, name: definition.name, task };
  const thread = new Thread(ENTRY, { workerData: data });
  void ended.then(() => thread.terminate());
  const send = (message: ToThread) => thread.postMessage(message);
  return new Promise((resolve, reject) => {
    const onAbort = () => send({ type: "abort", reason: serializeError(ctx.signal.reason) });
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    thread.on("message", (message: FromThread) => {
      switch (message.type) {
        case "call": {
          const call =
            message.method === "setProgress"
              ? ctx.setProgress(...message.args)
              : ctx.pointOfNoReturn(...message.args);
          call.then(
            () => send({ type: "reply", call: message.call }),
            (error: unknown) => send({ type: "reply", call: message.call, error: serializeError(error) }),
          );
          return;
        }
        case "done":
          return resolve(message.value);
        case "failed":
          return reject(deserializeError(message.error));
      }
    });
    thread.on("error", reject);
    thread.on("exit", (code) =>
      reject(new Error(`the task's thread exited (code ${code}) before its handler returned`)),
    );
  });
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: "Error", message: String(error) };
}

export function deserializeError(data: SerializedError): Error {
  const error = new Error(data.message);
  error.name = data.name;
  if (data.stack) error.stack = data.stack;
  return error;
}
