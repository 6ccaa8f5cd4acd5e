import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { TaskledgerError } from "../core/errors.js";
import type { TaskledgerOptions } from "../taskledger.js";

/**
 * A config module names the user's tasks (and schedules, queues, web options). Its default
 * export is the object below; `defineConfig` only adds types.
 *
 * ```js
 * // taskledger.config.js
 * import { defineConfig } from "taskledger";
 * import { countWords } from "./tasks/count-words.js";
 * export default defineConfig({ tasks: [countWords] });
 * ```
 */
export interface TaskledgerConfig extends Omit<TaskledgerOptions, "database"> {
  /** Database URL; `TASKLEDGER_DATABASE_URL` and `--database` take precedence. */
  readonly database?: string;
  /** Anything else a part of taskledger reads (e.g. `schedules`, `web`). */
  readonly [key: string]: unknown;
}

export function defineConfig<T extends TaskledgerConfig>(config: T): T {
  return config;
}

export interface LoadedConfig {
  readonly config: TaskledgerConfig;
  readonly path: string;
  readonly isExample: boolean;
}

const CANDIDATES = ["taskledger.config.js", "taskledger.config.mjs"];

/** The bundled example (the seeds' demo app), used when the user has no config of their own. */
export function exampleConfigPath(): string {
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  return resolve(packageRoot, "examples", "mailer", "taskledger.config.js");
}

/** Find and import the config: `--config`, then `TASKLEDGER_CONFIG`, then ./taskledger.config.js, then the example. */
export async function loadConfig(explicit: string | undefined, cwd = process.cwd()): Promise<LoadedConfig> {
  const named = explicit ?? process.env.TASKLEDGER_CONFIG;
  let path: string | undefined;
  if (named) {
    path = resolve(cwd, named);
    if (!existsSync(path))
      throw new TaskledgerError("invalid_input", `config: no such file ${path}`, { field: "config" });
  } else {
    path = CANDIDATES.map((name) => resolve(cwd, name)).find((candidate) => existsSync(candidate));
  }
  const isExample = path === undefined;
  path ??= exampleConfigPath();
  // An installed package has no example: say what to create rather than failing to import it.
  if (isExample && !existsSync(path)) {
    throw new TaskledgerError(
      "invalid_input",
      `config: no ${CANDIDATES.join(" or ")} in ${cwd}: create one (export default defineConfig({ tasks: [...] })), or pass --config FILE`,
      { field: "config" },
    );
  }
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new TaskledgerError("invalid_input", `config: cannot load ${path}: ${(error as Error).message}`, {
      field: "config",
      cause: error,
    });
  }
  const config = module.default;
  if (typeof config !== "object" || config === null || !Array.isArray((config as TaskledgerConfig).tasks)) {
    throw new TaskledgerError("invalid_input", `config: ${path} must export default { tasks: [...] }`, {
      field: "config",
    });
  }
  return { config: config as TaskledgerConfig, path, isExample };
}
