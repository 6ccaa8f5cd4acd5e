import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { LIBRARY_URL, type Running, spawnCli } from "../cli/cli.js";
import { tempDir, waitFor } from "../helpers/index.js";

/**
 * Three real `taskledger worker --with-scheduler` processes on one ledger, a schedule firing
 * every second (6-field cron): exactly one of them is the active scheduler, no slot is fired
 * twice, and when the active one is killed (SIGKILL) another takes over once its lease expires.
 */
const LEASE_MS = 1_000;

function writeConfig(dir: string, executions: string): string {
  const path = join(dir, "taskledger.config.js");
  writeFileSync(
    path,
    `import { appendFileSync } from "node:fs";
import { defineConfig, defineTask } from ${JSON.stringify(LIBRARY_URL)};

const record = defineTask({
  name: "record",
  retry: 0,
  run(_payload, ctx) {
    appendFileSync(${JSON.stringify(executions)}, JSON.stringify({ id: ctx.id, slot: ctx.task.slotAt.getTime(), pid: process.pid }) + "\\n");
    return { pid: process.pid };
  },
});

export default defineConfig({
  tasks: [record],
  leaseMs: ${LEASE_MS},
  heartbeatMs: 200,
  sweepIntervalMs: 300,
  schedules: [{ key: "every-second", task: record, description: "every second", cron: "* * * * * *", overlap: "allow" }],
});
`,
  );
  return path;
}

interface Lease {
  holder: string;
  acquired_at: number;
  renewed_at: number;
  expires_at: number;
}

function read<T>(file: string, query: string): T[] {
  const db = new BetterSqlite3(file, { readonly: true, timeout: 5_000 });
  try {
    return db.prepare(query).all() as T[];
  } finally {
    db.close();
  }
}

const lease = (file: string) => read<Lease>(file, "select * from leases where name = 'scheduler'")[0];
const runs = (file: string) =>
  read<{ id: number; slot_at: number; status: string; failed: number; attempts: number }>(
    file,
    "select id, slot_at, status, failed, attempts from tasks where schedule_id is not null order by slot_at",
  );
const pidOf = (holder: string) => Number(holder.split(":").at(-2));

describe("several scheduler processes", () => {
  it("never double-fire a slot; when the active one dies another takes over after its lease", async () => {
    const dir = tempDir("tl-sched-procs-");
    const file = join(dir, "ledger.db");
    const executions = join(dir, "executions.jsonl");
    const config = writeConfig(dir, executions);
    const options = { cwd: dir, database: `sqlite:${file}` };
    const procs: Running[] = [0, 1, 2].map(() =>
      spawnCli(["worker", "--with-scheduler", "--quiet", "--config", config], options),
    );
    const alive = () => procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const finished = () => runs(file).filter((r) => r.status === "finished").length;

    await waitFor(
      () =>
        alive().length < 3
          ? Promise.reject(new Error(procs.map((p) => p.stderr()).join("\n")))
          : finished() >= 4,
      {
        timeoutMs: 30_000,
        message: "four finished runs",
      },
    );
    const first = lease(file)!;
    const active = procs.find((p) => p.child.pid === pidOf(first.holder));
    expect(active, `lease holder ${first.holder}`).toBeDefined();

    active!.child.kill("SIGKILL");
    await active!.done;
    const before = lease(file)!; // its last renewal
    const killedAt = Math.max(...runs(file).map((r) => r.slot_at));
    const successor = await waitFor(
      () => {
        const now = lease(file);
        return now &&
          now.holder !== first.holder &&
          runs(file).filter((r) => r.slot_at > killedAt + 2_000).length >= 3
          ? now
          : undefined;
      },
      { timeoutMs: 30_000, message: "another process to take the lease over and fire" },
    );
    expect(alive().map((p) => p.child.pid)).toContain(pidOf(successor.holder));
    // It took over only once the dead holder's lease had run out.
    expect(successor.acquired_at).toBeGreaterThanOrEqual(before.expires_at);

    for (const proc of alive()) proc.child.kill("SIGTERM");
    const exits = await Promise.all(procs.filter((p) => p !== active).map((p) => p.done));
    for (const exit of exits) expect(exit.code, exit.stderr).toBe(0);

    const rows = runs(file);
    const slots = rows.map((r) => r.slot_at);
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.every((slot) => slot % 1_000 === 0)).toBe(true);
    // No scheduler ever tried to fire a slot another had fired: the lease kept them apart.
    for (const proc of procs) expect(proc.stderr()).not.toMatch(/UNIQUE constraint|scheduler .*:/);
    // Each run executed once, except one the killed process may have been running (it is retried
    // as a new attempt, at least once — not fired again).
    const executed = readFileSync(executions, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: number; slot: number });
    const perRun = new Map<number, number>();
    for (const e of executed) perRun.set(e.id, (perRun.get(e.id) ?? 0) + 1);
    const repeated = [...perRun].filter(([, n]) => n > 1).map(([id]) => id);
    expect(repeated.length).toBeLessThanOrEqual(1);
    expect(new Set(executed.map((e) => e.slot)).size).toBe(perRun.size);
  }, 90_000);
});
