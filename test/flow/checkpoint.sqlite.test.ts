import { copyFileSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { waitFor } from "../helpers/index.js";
import { openLedger } from "./fixture.js";

const job = defineTask({ name: "job", run: async () => null });

/** Tasks in the database file alone, as a copy without its WAL sees them: what checkpoints copied back. */
function tasksInMainFile(file: string): number {
  const copy = `${file}.copy`;
  copyFileSync(file, copy);
  const db = new BetterSqlite3(copy, { readonly: true });
  try {
    return (db.prepare("select count(*) as n from tasks").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("WAL checkpoints", () => {
  it("move to a background thread once the file is busy, and keep the database file current", async () => {
    const { tl, file } = openLedger({ tasks: [job] });
    for (let i = 0; i < 300; i++) await tl.tasks.enqueue(job, null, { description: `warm ${i}` });
    // The writer's own threshold is now the backstop, far above what the next commits append.
    expect(runtimeOf(tl).database.sqlite!.pragma("wal_autocheckpoint", { simple: true })).toBe(8_192);
    await waitFor(() => tasksInMainFile(file) === 300, {
      timeoutMs: 5_000,
      message: "the first 300 copied back",
    });
    for (let i = 0; i < 500; i++) await tl.tasks.enqueue(job, null, { description: `busy ${i}` });
    // ~3,000 pages appended: below the backstop, so only the thread can have copied them back.
    await waitFor(() => tasksInMainFile(file) === 800, { timeoutMs: 5_000, message: "all 800 copied back" });
  });
});
