import type { Taskledger } from "../taskledger.js";
import type { LoadedConfig } from "./config.js";
import type { Output } from "./output.js";

/** One option of a command: how it parses, and what `--help` says of it. */
export interface Flag {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** What help calls the value of a string option: `N`, `JSON`, `TIME`. */
  readonly value?: string;
  /** What it does, in a sentence. */
  readonly help: string;
  /** What applies without it, in words (`the task's own, else 3`). */
  readonly default?: string;
}

export type FlagSpecs = Readonly<Record<string, Flag>>;

/** Parsed option values, by name. */
export type Flags = Record<string, string | boolean | undefined>;

export interface CommandContext {
  /** Positional arguments after the command (and subcommand) name. */
  readonly args: readonly string[];
  readonly flags: Flags;
  readonly out: Output;
  /**
   * Load the config and open the ledger (migrated); the CLI closes it when the command returns.
   * An existing ledger only, unless `create`: reads must not leave an empty ledger behind.
   */
  open(options?: { create?: boolean }): Promise<{ tl: Taskledger; loaded: LoadedConfig }>;
}

/** One CLI command (one file each in src/cli/commands/), or one subcommand (`tasks list`). Returns the exit code (default 0). */
export interface Command {
  readonly name: string;
  readonly summary: string;
  /** What follows the command's name on the usage line: `<task> --description TEXT [options]`. */
  readonly usage: string;
  readonly flags: FlagSpecs;
  /** Lines after the options in `--help`, as written: notes, an example. */
  readonly notes?: readonly string[];
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** A command made of subcommands (`taskledger tasks list`); `fallback` runs when none is named. */
export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly subcommands: readonly Command[];
  readonly fallback: string;
}

/** A usage error: one line naming the command's help, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Refuse positional arguments past the ones a command takes. */
export function noMoreArgs(args: readonly string[]): void {
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
}
