import type { Command, CommandGroup } from "../command.js";
import { enqueueCommand } from "./enqueue.js";
import { migrateCommand } from "./migrate.js";
import { migrateDataCommand } from "./migrate-data.js";
import { pruneCommand } from "./prune.js";
import { schedulesCommand } from "./schedules.js";
import { startCommand } from "./start.js";
import { statusCommand } from "./status.js";
import { tasksCommand } from "./tasks.js";
import { webCommand } from "./web.js";
import { workerCommand } from "./worker.js";

/** Every CLI command, in the order `--help` lists them. */
export const commands: readonly (Command | CommandGroup)[] = [
  startCommand,
  workerCommand,
  webCommand,
  migrateCommand,
  migrateDataCommand,
  pruneCommand,
  enqueueCommand,
  tasksCommand,
  schedulesCommand,
  statusCommand,
];
