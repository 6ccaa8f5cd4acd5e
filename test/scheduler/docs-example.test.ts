import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { REPO, spawnProcess } from "../cli/cli.js";
import { tempDir, waitFor } from "../helpers/index.js";
import { codeBlocks } from "../helpers/markdown.js";

/**
 * docs/schedules.md's first example, run as written: saved as `schedules.mjs` in a project that has
 * taskledger installed (here, a link to this checkout) and started with `node schedules.mjs`.
 */
const DOC = readFileSync(join(REPO, "docs", "schedules.md"), "utf8");
const EXAMPLE = codeBlocks(DOC, "js").find((block) => block.startsWith("// schedules.mjs"));

function readLedger(file: string) {
  const db = new BetterSqlite3(file, { readonly: true, timeout: 5_000 });
  try {
    return {
      schedules: db
        .prepare("select key, status, next_run_at, run_count from scheduled_tasks order by key")
        .all() as {
        key: string;
        status: string;
        next_run_at: number;
        run_count: number;
      }[],
      runs: db.prepare("select name, status, failed, result from tasks").all() as {
        name: string;
        status: string;
        failed: number;
        result: string;
      }[],
    };
  } finally {
    db.close();
  }
}

describe("docs/schedules.md", () => {
  it("its example creates both schedules, and the worker's scheduler fires the interval one at once", async () => {
    expect(EXAMPLE, "a js block starting with // schedules.mjs").toBeDefined();
    const dir = tempDir("tl-schedules-doc-");
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO, join(dir, "node_modules", "taskledger"), "dir");
    writeFileSync(join(dir, "schedules.mjs"), EXAMPLE!);
    const proc = spawnProcess(process.execPath, ["schedules.mjs"], { cwd: dir, database: null });
    const file = join(dir, "taskledger.db");
    const ledger = await waitFor(
      () => {
        if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}: ${proc.stderr()}`);
        const now = readLedger(file);
        return now.runs.some((r) => r.status === "finished") ? now : undefined;
      },
      { timeoutMs: 20_000, message: "the rss schedule's first run to finish" },
    );
    expect(ledger.schedules.map(({ key, status }) => ({ key, status }))).toEqual([
      { key: "digest", status: "running" },
      { key: "rss", status: "running" },
    ]);
    expect(ledger.runs).toEqual([
      { name: "fetch_rss", status: "finished", failed: 0, result: '{"url":"https://example.com/feed.xml"}' },
    ]);
    const digest = new Date(ledger.schedules[0]!.next_run_at);
    const paris = new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/Paris",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
    }).format(digest);
    expect(paris).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 08:00$/);
    expect(proc.stderr()).toBe("");
  });
});
