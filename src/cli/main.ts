#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { isTaskledgerError, TaskledgerError } from "../core/errors.js";
import { type Database, DEFAULT_DATABASE_URL, openDatabase } from "../ledger/database.js";
import { createTaskledger, type Taskledger } from "../taskledger.js";
import { type Command, type CommandContext, type CommandGroup, type Flags, UsageError } from "./command.js";
import { commands } from "./commands/index.js";
import { type LoadedConfig, loadConfig } from "./config.js";
import { color, createOutput } from "./output.js";
import { commandHelp, GLOBAL_FLAGS, groupHelp, mainHelp, parseFlags } from "./usage.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Global options may come before the command (`taskledger --json tasks list`): move them after
 * its arguments (before a `--`), where the command's own parse takes them.
 */
function commandFirst(argv: readonly string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    const [flag = "", value] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s) : [];
    const option = flag !== "help" && Object.hasOwn(GLOBAL_FLAGS, flag) ? GLOBAL_FLAGS[flag] : undefined;
    if (!option) break;
    leading.push(arg);
    i++;
    if (option.type === "string" && value === undefined && i < argv.length) leading.push(argv[i++]!);
  }
  if (i >= argv.length) return []; // options but no command: the usage error
  const rest = argv.slice(i + 1);
  const end = rest.includes("--") ? rest.indexOf("--") : rest.length;
  return [argv[i]!, ...rest.slice(0, end), ...leading, ...rest.slice(end)];
}

/** The command a command line names, its label (`taskledger tasks list`) and its arguments. */
function findCommand(
  group: Command | CommandGroup,
  args: string[],
): { command: Command; label: string; args: string[] } | { group: CommandGroup; label: string } {
  const label = `taskledger ${group.name}`;
  if (!("subcommands" in group)) return { command: group, label, args };
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith("-")) {
    if (args.includes("--help") || args.includes("-h")) return { group, label };
    const command = group.subcommands.find((c) => c.name === group.fallback)!;
    return { command, label: `${label} ${command.name}`, args };
  }
  const command = group.subcommands.find((c) => c.name === first);
  if (!command) throw new UsageError(`unknown subcommand "${first}"`);
  return { command, label: `${label} ${command.name}`, args: rest };
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

/** A usage error: one line, naming the help to read. */
const usageLine = (label: string, error: UsageError) => `${label}: ${error.message} (see ${label} --help)`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = commandFirst(argv);
  if (!name || name === "help" || name === "--help" || name === "-h") {
    // Without a command it is a usage error: the help goes to stderr, like every other one.
    (name ? process.stdout : process.stderr).write(`${mainHelp(version(), commands)}\n`);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const out = createOutput(rest.includes("--json"));
  const named = commands.find((c) => c.name === name);
  if (!named) {
    const what = name.startsWith("-") ? `option ${name}` : `command "${name}"`;
    out.error(`taskledger: unknown ${what} (see taskledger --help)`);
    return 2;
  }
  let command: Command;
  let label = `taskledger ${name}`;
  let flags: Flags;
  let args: string[];
  try {
    const found = findCommand(named, rest);
    label = found.label;
    if ("group" in found) {
      process.stdout.write(`${groupHelp(found.label, found.group)}\n`);
      return 0;
    }
    command = found.command;
    const parsed = parseFlags(found.args, command.flags);
    flags = parsed.values;
    args = parsed.positionals;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.error(usageLine(label, error));
    return 2;
  }
  if (flags.help) {
    process.stdout.write(`${commandHelp(label, command)}\n`);
    return 0;
  }
  let instance: { tl: Taskledger; loaded: LoadedConfig } | undefined;
  const ctx: CommandContext = {
    args,
    flags,
    out,
    async open({ create = false } = {}) {
      if (instance) return instance;
      const loaded = await loadConfig(flags.config as string | undefined);
      const { database: configured, ...options } = loaded.config;
      const url =
        (flags.database as string | undefined) ??
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
      out.error(usageLine(label, error));
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
