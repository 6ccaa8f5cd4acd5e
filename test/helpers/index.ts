import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach } from "vitest";

/**
 * A fresh directory (and so a fresh SQLite file) per test, removed afterwards. Tests import the
 * library from `src/` through vitest; processes spawned by tests run `dist/`.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = "tl-test-"): string {
  const root = join(tmpdir(), "taskledger-tests");
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, prefix));
  dirs.push(dir);
  return dir;
}

/** A fresh database URL in its own directory. */
export function tempDatabase(): { url: string; file: string; dir: string } {
  const dir = tempDir();
  const file = join(dir, "ledger.db");
  return { url: `sqlite:${file}`, file, dir };
}

/** Wait for a condition, polling; fails with `message` after `timeoutMs`. Never a fixed sleep. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 10, message = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${message}${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Row counts of every table, read through a separate connection (what is really on disk). */
/** Tasks still in the embedded queue: waiting to be claimed (queued, reserved) or held by a worker (running). */
export function inQueue(file: string): number {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (
      db
        .prepare("select count(*) as n from tasks where status in ('queued', 'reserved', 'running')")
        .get() as {
        n: number;
      }
    ).n;
  } finally {
    db.close();
  }
}

export function tableCounts(file: string): Record<string, number> {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const tables = db
      .prepare(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'taskledger_%'",
      )
      .all() as { name: string }[];
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      counts[name] = (db.prepare(`select count(*) as n from "${name}"`).get() as { n: number }).n;
    }
    return counts;
  } finally {
    db.close();
  }
}
