import { parentPort, workerData } from "node:worker_threads";
import { taskContextStorage } from "../tasks/context.js";
import type { TaskContext, TaskDefinition } from "../tasks/define.js";
import {
  deserializeError,
  type FromThread,
  serializeError,
  type ThreadData,
  type ToThread,
} from "./thread.js";

/**
 * A task's thread (`isolation: "thread"`): imports the module that defines the task, runs its
 * handler with a context whose progress and point of no return are answered by the worker, and
 * posts the result. The worker terminates the thread when the attempt ends.
 */
const port = parentPort!;
const { module, name, task } = workerData as ThreadData;
const post = (message: FromThread) => port.postMessage(message);

const controller = new AbortController();
const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
let calls = 0;

port.on("message", (message: ToThread) => {
  if (message.type === "abort") controller.abort(deserializeError(message.reason));
  else {
    const waiting = pending.get(message.call);
    pending.delete(message.call);
    if (message.error) waiting?.reject(deserializeError(message.error));
    else waiting?.resolve();
  }
});

function call(method: "setProgress" | "pointOfNoReturn", args: unknown[]): Promise<void> {
  const id = ++calls;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    post({ type: "call", call: id, method, args } as FromThread);
  });
}

async function findDefinition(): Promise<TaskDefinition> {
  const exports = (await import(module)) as Record<string, unknown>;
  const candidates: unknown[] = Object.values(exports);
  const fallback = exports.default as { tasks?: unknown } | undefined;
  if (fallback && Array.isArray(fallback.tasks)) candidates.push(...fallback.tasks);
  for (const value of candidates) {
    const definition = value as TaskDefinition | undefined;
    if (
      definition &&
      typeof definition === "object" &&
      definition.name === name &&
      typeof definition.run === "function"
    )
      return definition;
  }
  throw new Error(
    `the module ${module} exports no task named "${name}" (isolation "thread" imports it to run the task)`,
  );
}

try {
  const definition = await findDefinition();
  const ctx: TaskContext = {
    task,
    id: task.id,
    attempt: task.attempts,
    idempotencyKey: `${task.id}:${task.attempts}`,
    signal: controller.signal,
    setProgress: (progress, data) => call("setProgress", [progress, data]),
    pointOfNoReturn: (reason) => call("pointOfNoReturn", [reason]),
  };
  const value = await taskContextStorage.run(ctx, () => definition.run(task.payload, ctx));
  post({ type: "done", value });
} catch (error) {
  post({ type: "failed", error: serializeError(error) });
}
