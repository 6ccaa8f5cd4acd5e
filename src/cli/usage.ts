import { type ParseArgsConfig, parseArgs } from "node:util";
import {
  type Command,
  type CommandGroup,
  type Flag,
  type FlagSpecs,
  type Flags,
  UsageError,
} from "./command.js";

/** Options every command takes. */
export const GLOBAL_FLAGS: FlagSpecs = {
  config: {
    type: "string",
    value: "FILE",
    help: "the config module that names your tasks (and schedules, queues, web app)",
    default: "$TASKLEDGER_CONFIG, else ./taskledger.config.js or .mjs, else the bundled example",
  },
  database: {
    type: "string",
    value: "URL",
    help: "the ledger: sqlite:FILE, postgres://USER@HOST/DB or mysql://USER:PASS@HOST/DB; commands that only read need an existing one",
    default: "$TASKLEDGER_DATABASE_URL, else the config's database, else sqlite:taskledger.db",
  },
  json: { type: "boolean", help: "machine-readable output: one JSON document, errors included" },
  help: { type: "boolean", short: "h", help: "this help" },
};

/** Help lines wrap at this width. */
const WIDTH = 100;

/**
 * Parse a command's arguments against its options and the global ones. Refusals are
 * taskledger's own words (`unknown option --staus`), for the caller to print with the command.
 */
export function parseFlags(
  args: readonly string[],
  flags: FlagSpecs,
): { values: Flags; positionals: string[] } {
  const all: FlagSpecs = { ...GLOBAL_FLAGS, ...flags };
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, { type, short }] of Object.entries(all))
    options[name] = short ? { type, short } : { type };
  // Not strict: every token is checked below, so that each refusal says what to do.
  const { tokens } = parseArgs({
    args: [...args],
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const values: Flags = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const flag = Object.hasOwn(all, token.name) ? all[token.name] : undefined;
    if (!flag) throw new UsageError(`unknown option ${token.rawName}`);
    if (flag.type === "boolean") {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      values[token.name] = true;
    } else if (token.value === undefined) {
      throw new UsageError(`${token.rawName} needs a value: ${token.rawName} ${flag.value ?? "VALUE"}`);
    } else if (!token.inlineValue && token.value.startsWith("-")) {
      throw new UsageError(
        `${token.rawName} needs a value; one that starts with "-" is written ${token.rawName}=${token.value}`,
      );
    } else {
      values[token.name] = token.value;
    }
  }
  return { values, positionals };
}

/** `taskledger enqueue --help`, `taskledger tasks list --help`. */
export function commandHelp(label: string, command: Command): string {
  const column = columnOf({ ...GLOBAL_FLAGS, ...command.flags });
  return [
    `${label} — ${command.summary}`,
    "",
    `Usage: ${label} ${command.usage}`,
    ...(Object.keys(command.flags).length > 0 ? ["", "Options:", ...flagLines(command.flags, column)] : []),
    "",
    "Global options:",
    ...flagLines(GLOBAL_FLAGS, column),
    ...(command.notes ? ["", ...command.notes] : []),
  ].join("\n");
}

/** `taskledger tasks --help`: the subcommands, each with its own help. */
export function groupHelp(label: string, group: CommandGroup): string {
  const width = Math.max(...group.subcommands.map((c) => c.name.length));
  return [
    `${label} — ${group.summary}`,
    "",
    `Usage: ${label} <${group.subcommands.map((c) => c.name).join("|")}> [options]   (default: ${group.fallback})`,
    "",
    ...group.subcommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    `The options of each: ${label} <${group.subcommands.map((c) => c.name).join("|")}> --help`,
  ].join("\n");
}

/** `taskledger --help`. */
export function mainHelp(version: string, commands: readonly (Command | CommandGroup)[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `taskledger ${version} — background tasks with a durable record`,
    "",
    "Usage: taskledger <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global options:",
    ...flagLines(MAIN_FLAGS, columnOf(MAIN_FLAGS)),
  ].join("\n");
}

/** `taskledger --help` also tells how to ask a command for its help, and the version. */
const MAIN_FLAGS: FlagSpecs = {
  ...GLOBAL_FLAGS,
  help: {
    type: "boolean",
    short: "h",
    help: "help: this one, or a command's (taskledger tasks list --help)",
  },
  version: { type: "boolean", help: "print taskledger's version" },
};

/** Where the sentences start: after the longest option name, within reason. */
function columnOf(flags: FlagSpecs): number {
  return Math.min(
    24,
    Math.max(...Object.entries(flags).map(([name, flag]) => flagName(name, flag).length)) + 4,
  );
}

/** One entry per option: its name and value on the left, its sentence and default wrapped on the right. */
function flagLines(flags: FlagSpecs, column: number): string[] {
  const names = Object.entries(flags).map(([name, flag]) => [flagName(name, flag), flag] as const);
  return names.flatMap(([name, flag]) => {
    const text = flag.default === undefined ? flag.help : `${flag.help} (default: ${flag.default})`;
    const lines = wrap(text, WIDTH - column);
    const first = `  ${name}`;
    const indent = " ".repeat(column);
    if (first.length + 2 > column) return [first, ...lines.map((l) => indent + l)];
    return [first.padEnd(column) + lines[0], ...lines.slice(1).map((l) => indent + l)];
  });
}

function flagName(name: string, flag: Flag): string {
  return `${flag.short ? `-${flag.short}, ` : ""}--${name}${flag.value ? ` ${flag.value}` : ""}`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}
