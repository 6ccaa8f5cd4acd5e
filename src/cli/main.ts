#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isTaskledgerError, TaskledgerError } from "../core/errors.js";
import { type Database, DEFAULT_DATABASE_URL, openDatabase } from "../ledger/database.js";
import { createTaskledger, type Taskledger } from "../taskledger.js";
import { type Command, type CommandContext, UsageError } from "./command.js";
import { commands } from "./commands/index.js";
import { type LoadedConfig, loadConfig } from "./config.js";
import { color, createOutput } from "./output.js";

const GLOBAL_OPTIONS = {
  config: { type: "string" },
  database: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `taskledger ${version()} — background tasks with a durable record`,
    "",
    "Usage: taskledger <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global options:",
    "  --config FILE     config module (default ./taskledger.config.js, else the bundled example)",
    "  --database URL    ledger database (default $TASKLEDGER_DATABASE_URL or sqlite:taskledger.db)",
    "  --json            machine-readable output",
    "  -h, --help        help for a command",
  ].join("\n");
}

/** Global options may come before the command (`taskledger --json status`): move them after it. */
function commandFirst(argv: readonly string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    const [flag = "", value] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s) : [];
    const option =
      flag !== "help" && Object.hasOwn(GLOBAL_OPTIONS, flag)
        ? GLOBAL_OPTIONS[flag as keyof typeof GLOBAL_OPTIONS]
        : undefined;
    if (!option) break;
    leading.push(arg);
    i++;
    if (option.type === "string" && value === undefined && i < argv.length) leading.push(argv[i++]!);
  }
  if (i >= argv.length) return []; // options but no command: the usage error
  return [argv[i]!, ...leading, ...argv.slice(i + 1)];
}

/** Open the ledger the command line, the environment or the config names. */
function openLedger(url: string, create: boolean): Database {
  try {
    return openDatabase(url, { create });
  } catch (error) {
    if (!isTaskledgerError(error) || error.code !== "not_found" || error.field !== "database") throw error;
    throw new TaskledgerError(
      "not_found",
      `${error.message} (run taskledger migrate to create one, or pass --database)`,
      { field: "database" },
    );
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = commandFirst(argv);
  if (!name || name === "help" || name === "--help" || name === "-h") {
    // Without a command it is a usage error: the help goes to stderr, like every other one.
    (name ? process.stdout : process.stderr).write(`${help()}\n`);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  const jsonRequested = rest.includes("--json");
  const out = createOutput(jsonRequested);
  if (!command) {
    out.error(`taskledger: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    out.error(`taskledger ${name}: ${(error as Error).message}\n\n${command.usage}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  let instance: { tl: Taskledger; loaded: LoadedConfig } | undefined;
  const ctx: CommandContext = {
    args: parsed.positionals,
    flags: parsed.values as CommandContext["flags"],
    out,
    async open({ create = false } = {}) {
      if (instance) return instance;
      const loaded = await loadConfig(parsed.values.config as string | undefined);
      const { database: configured, ...options } = loaded.config;
      const url =
        (parsed.values.database as string | undefined) ??
        process.env.TASKLEDGER_DATABASE_URL ??
        configured ??
        DEFAULT_DATABASE_URL;
      const database = openLedger(url, create);
      let tl: Taskledger;
      try {
        tl = createTaskledger({ ...options, database });
      } catch (error) {
        await database.close();
        throw error;
      }
      instance = { tl, loaded };
      await tl.migrate();
      out.preface(color.dim(`ledger: ${database.file ?? database.identity}`));
      return instance;
    },
  };
  try {
    return (await command.run(ctx)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      out.error(`taskledger ${name}: ${error.message}\n\n${command.usage}`);
      return 2;
    }
    const message = isTaskledgerError(error) ? error.message : ((error as Error)?.message ?? String(error));
    if (out.json)
      process.stdout.write(
        `${JSON.stringify({ error: { code: isTaskledgerError(error) ? error.code : "error", message, field: isTaskledgerError(error) ? error.field : undefined } })}\n`,
      );
    out.error(`${color.red("taskledger: error:")} ${message}`);
    if (process.env.TASKLEDGER_DEBUG) console.error(error);
    return 1;
  } finally {
    await instance?.tl.close().catch(() => {});
  }
}

/**
 * A reader that stops early (`taskledger tasks list | head`) closes stdout (EPIPE): the command
 * ends quietly with exit 0, as `git log | head` does. A long-running one (worker, web, start) stops
 * as on SIGTERM, its running tasks given their grace period; the rest end at once.
 */
function endWhenOutputCloses(): void {
  let ending = false;
  const onError = () => {
    if (ending) return;
    ending = true;
    if (process.listenerCount("SIGTERM") > 0) process.kill(process.pid, "SIGTERM");
    else process.exit();
  };
  process.stdout.on("error", onError);
  process.stderr.on("error", onError);
}

export type { Command };

endWhenOutputCloses();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`taskledger: error: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
