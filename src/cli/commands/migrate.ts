import type { Command } from "../command.js";

export const migrateCommand: Command = {
  name: "migrate",
  summary: "create the ledger, or bring its tables up to date",
  usage: "[options]",
  flags: {},
  notes: ["Safe to run any number of times, from several processes at once."],
  async run({ out, open }) {
    const { tl } = await open({ create: true });
    if (out.json) out.data({ ok: true, database: tl.ledger.location });
    else out.line("Ledger ready.");
  },
};
