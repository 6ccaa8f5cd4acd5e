import type { ParseArgsConfig } from "node:util";
import type { Taskledger } from "../taskledger.js";
import type { LoadedConfig } from "./config.js";
import type { Output } from "./output.js";

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

/** One CLI command (one file each in src/cli/commands/). Returns the exit code (default 0). */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig["options"]>;
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
