import { invalid, TaskledgerError } from "../core/errors.js";
import type { Settings } from "../runtime.js";
import type { TaskDefinition } from "./define.js";

/** The task definitions an instance knows, by name. */
export class TaskRegistry {
  readonly #byName = new Map<string, TaskDefinition>();
  #queues: readonly string[] | undefined;

  constructor(tasks: Iterable<TaskDefinition> = []) {
    for (const task of tasks) this.add(task);
  }

  add(task: TaskDefinition): void {
    const existing = this.#byName.get(task.name);
    if (existing && existing !== task) {
      throw new TaskledgerError("invalid_input", `tasks: two definitions are named "${task.name}"`, {
        field: "tasks",
      });
    }
    this.#byName.set(task.name, task);
    this.#queues = undefined;
  }

  get(name: string): TaskDefinition | undefined {
    return this.#byName.get(name);
  }

  /** Resolve a definition or a name; the field names the caller's argument in the error. */
  resolve(task: TaskDefinition | string, field = "task"): TaskDefinition {
    const name = typeof task === "string" ? task : task?.name;
    const found = typeof name === "string" ? this.#byName.get(name) : undefined;
    if (!found) {
      const known = [...this.#byName.keys()].sort().join(", ") || "none";
      throw new TaskledgerError(
        "unknown_task",
        `${field}: unknown task "${String(name)}" (known: ${known})`,
        {
          field,
        },
      );
    }
    return found;
  }

  names(): string[] {
    return [...this.#byName.keys()].sort();
  }

  /** The queues the definitions name (`defineTask({ queue })`), in task-name order. */
  queues(): readonly string[] {
    this.#queues ??= [...new Set(this.names().flatMap((name) => this.#byName.get(name)?.queue ?? []))];
    return this.#queues;
  }
}

/**
 * The queues a task may be sent to, in priority order: the declared `queues` when there are;
 * otherwise `high`, `default` and every defined task's own queue. Workers serve these by default,
 * so no task waits in a queue that nobody serves.
 */
export function knownQueues(settings: Pick<Settings, "queues">, registry: TaskRegistry): string[] {
  if (settings.queues) return [...settings.queues];
  return [...new Set(["high", "default", ...registry.queues()])];
}

/** Refuse a queue outside {@link knownQueues}, listing them. */
export function assertKnownQueue(
  queue: string,
  settings: Pick<Settings, "queues">,
  registry: TaskRegistry,
  field = "queue",
): void {
  const declared = settings.queues;
  if (declared ? declared.includes(queue) : isDefaultQueue(queue, registry)) return;
  const known = knownQueues(settings, registry).join(", ");
  throw invalid(
    field,
    declared
      ? `unknown queue "${queue}" (declared: ${known})`
      : `unknown queue "${queue}": no worker serves it (known: ${known}; declare others with the queues option)`,
  );
}

function isDefaultQueue(queue: string, registry: TaskRegistry): boolean {
  return queue === "high" || queue === "default" || registry.queues().includes(queue);
}
