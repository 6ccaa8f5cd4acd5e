import type { Command } from "../command.js";

export const migrateCommand: Command = {
  name: "migrate",
  summary: "create or update the ledger's tables",
  usage: "Usage: taskledger migrate [--database URL] [--json]",
  options: {},
  async run({ out, open }) {
    const { tl } = await open({ create: true });
    if (out.json) out.data({ ok: true, database: tl.database.file ?? tl.database.identity });
    else out.line("Ledger ready.");
  },
};
