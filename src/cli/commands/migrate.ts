import type { Command } from "../command.js";

export const migrateCommand: Command = {
  name: "migrate",
  summary: "create or update the ledger's tables",
  usage: "Usage: taskledger migrate [--database URL] [--json]",
  options: {},
  async run({ out, open }) {
    if (!out.json) out.line("Migrating the ledger…");
    const { tl } = await open();
    if (out.json) out.data({ ok: true, database: tl.ledger.location });
    else out.line(`Ledger ready: ${tl.ledger.location}`);
  },
};
