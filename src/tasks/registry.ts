import { TaskledgerError } from "../core/errors.js";
import type { TaskDefinition } from "./define.js";

/** The task definitions an instance knows, by name. */
export class TaskRegistry {
  readonly #byName = new Map<string, TaskDefinition>();

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
}
