/**
 * One error type for everything taskledger refuses or fails to do. `code` is a closed set so
 * callers (the HTTP layer, the CLI) map it in one place; `field` names the input at fault.
 */
export type ErrorCode =
  | "invalid_input" // bad input, `field` names it
  | "unknown_task" // a task name not in the registry
  | "not_found" // no such task / schedule
  | "conflict" // the state forbids it (cancel a finished task, …)
  | "unavailable" // storage or engine unreachable
  | "closed"; // the instance was closed

export class TaskledgerError extends Error {
  override readonly name = "TaskledgerError";
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
  }
}

/** Bad input, naming the field (e.g. `payload.items[2]`, `description`, `at`). */
export function invalid(field: string, message: string): TaskledgerError {
  return new TaskledgerError("invalid_input", `${field}: ${message}`, { field });
}

export function isTaskledgerError(error: unknown): error is TaskledgerError {
  return error instanceof TaskledgerError;
}

/**
 * Message and stack of anything thrown, for the `log` column. Its causes (`error.cause`) follow,
 * indented under it as `Caused by: …`: like the stack, they are detail for admins (see task-log.ts).
 */
export function describeError(error: unknown): string {
  return describeThrown(error, "Non-error thrown: ", 0);
}

/** Causes are followed this deep (a chain can loop). */
const MAX_CAUSES = 5;

function describeThrown(error: unknown, nonErrorPrefix: string, depth: number): string {
  if (!(error instanceof Error)) return `${nonErrorPrefix}${describeValue(error)}`;
  const text = error.stack ?? `${error.name}: ${error.message}`;
  if (error.cause === undefined || depth >= MAX_CAUSES) return text;
  const cause = `Caused by: ${describeThrown(error.cause, "", depth + 1)}`;
  return `${text}\n${cause.replace(/^/gm, "  ")}`;
}

function describeValue(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
