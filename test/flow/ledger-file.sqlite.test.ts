import { chmodSync, existsSync, statSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineTask } from "../../src/index.js";
import { tempDatabase } from "../helpers/index.js";
import { openLedger } from "./fixture.js";

/**
 * The ledger holds every payload and result: a file it creates is its owner's alone, whatever the
 * process umask lets through. Run under the common umask 022, which alone would give 0644.
 */
const job = defineTask({ name: "job", run: () => "done" });
const modeOf = (file: string) => statSync(file).mode & 0o777;

let umask: number;
beforeEach(() => {
  umask = process.umask(0o022);
});
afterEach(() => {
  process.umask(umask);
});

describe("the ledger file", () => {
  it("is created 0600, and so are its -wal and -shm; a file that exists keeps its mode", async () => {
    const created = openLedger({ tasks: [job] });
    await created.tl.tasks.enqueue(job, null, { description: "a write" });
    expect(existsSync(`${created.file}-wal`)).toBe(true);
    for (const file of [created.file, `${created.file}-wal`, `${created.file}-shm`]) {
      expect(modeOf(file).toString(8), file).toBe("600");
    }

    const { url, file } = tempDatabase();
    writeFileSync(file, "");
    chmodSync(file, 0o644);
    const existing = openLedger({ tasks: [job], url });
    await existing.tl.tasks.enqueue(job, null, { description: "a write" });
    expect(modeOf(file).toString(8)).toBe("644");
  });
});
