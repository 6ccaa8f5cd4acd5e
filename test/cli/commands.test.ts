import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import BetterSqlite3 from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import { commands } from "../../src/cli/commands/index.js";
import { embeddedMigrations } from "../../src/engines/embedded/schema.js";
import { ledgerMigrations } from "../../src/ledger/migrations.js";
import { ENDING_TASKS, oneOfEachEnd, openLedger } from "../flow/fixture.js";
import { inQueue, tableCounts, tempDir } from "../helpers/index.js";
import { BIN, json, REPO, type RunOptions, run } from "./cli.js";

/** The commands that read and write the ledger, run as processes on the bundled example's tasks. */
let dir: string;
let file: string;
let opts: RunOptions;

beforeEach(() => {
  dir = tempDir("tl-cli-");
  file = join(dir, "ledger.db");
  opts = { cwd: dir, database: `sqlite:${file}` };
});

const cli = (...args: string[]) => run(args, opts);

/** Human output starts with the ledger the command used; the lines after it. */
function afterLedgerLine(result: { stdout: string }, ledger = file): string[] {
  const [first, ...rest] = result.stdout.trimEnd().split("\n");
  expect(first).toBe(`ledger: ${ledger}`);
  return rest;
}

async function enqueueWords(description: string, text = "a b c"): Promise<number> {
  const result = await cli(
    "enqueue",
    "count_words",
    "--description",
    description,
    "--payload",
    JSON.stringify(text),
    "--json",
  );
  expect(result.code, result.stderr).toBe(0);
  return json(result).id;
}

/** The options `--help` lists, by name (`--retry N` is "retry"), each with its text (its lines joined). */
function optionEntries(help: string): Record<string, { text: string }> {
  const entries: Record<string, { text: string }> = {};
  let current: { text: string } | undefined;
  for (const line of help.split("\n")) {
    const option = /^ {2}(?:-\w, )?--([\w-]+)(?: \S+)?(?: {2,}(.*))?$/.exec(line);
    if (option) {
      current = { text: option[2] ?? "" };
      entries[option[1]!] = current;
    } else if (current && /^ {6,}\S/.test(line)) {
      current.text = `${current.text} ${line.trim()}`.trim();
    } else current = undefined;
  }
  return entries;
}

/** An error is one line on stderr and nothing on stdout. */
function expectOneErrorLine(result: { stdout: string; stderr: string }, ...parts: string[]): void {
  expect(result.stdout).toBe("");
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  for (const part of parts) expect(lines[0]).toContain(part);
}

describe("the built bin", () => {
  it("is executable, so `npx taskledger` works in this checkout after a build", async () => {
    accessSync(BIN, constants.X_OK);
    const { stdout } = await promisify(execFile)("npx", ["--no-install", "taskledger", "--version"], {
      cwd: REPO,
    });
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
    expect(stdout.trim()).toBe(version);
  });
});

/** Every ledger table, empty: what `migrate` leaves on a new file. */
const EMPTY_LEDGER = { scheduled_tasks: 0, tasks: 0, notifications: 0, workers: 0, leases: 0 };

describe("migrate", () => {
  it("creates the ledger's tables, empty", async () => {
    const result = await cli("migrate");
    expect(result.code, result.stderr).toBe(0);
    expect(afterLedgerLine(result)).toEqual(["Ledger ready."]);
    expect(tableCounts(file)).toEqual(EMPTY_LEDGER);

    const again = await cli("migrate", "--json");
    expect(again.code, again.stderr).toBe(0);
    expect(json(again)).toEqual({ ok: true, database: file });
  });

  it("creates the ledger file readable by its owner only (0600), under umask 022", async () => {
    const umask = process.umask(0o022); // the spawned command inherits it
    try {
      const result = await cli("migrate");
      expect(result.code, result.stderr).toBe(0);
    } finally {
      process.umask(umask);
    }
    expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
  });

  it("from several processes at once on a new file: each migration runs once, every process succeeds", async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => cli("migrate", "--json")));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(tableCounts(file)).toEqual(EMPTY_LEDGER);
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      for (const [table, count] of [
        ["taskledger_migrations", Object.keys(ledgerMigrations("sqlite")).length],
        ["taskledger_embedded_migrations", Object.keys(embeddedMigrations()).length],
      ] as const) {
        const names = db.prepare(`select name from ${table} order by name`).pluck().all();
        expect(names).toHaveLength(count);
        expect(new Set(names).size).toBe(count);
      }
    } finally {
      db.close();
    }
  });

  it("uses taskledger.db in the working directory when no database is named", async () => {
    const result = await run(["migrate"], { cwd: dir, database: null });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(dir, "taskledger.db"))).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it("takes --database over TASKLEDGER_DATABASE_URL", async () => {
    const other = join(dir, "other.db");
    const result = await cli("migrate", "--database", `sqlite:${other}`);
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(other)).toBe(true);
    expect(existsSync(file)).toBe(false);
  });
});

describe("enqueue", () => {
  it("records and queues a task, in text and as JSON", async () => {
    const text = await cli("enqueue", "count_words", "--description", "count a b c", "--payload", '"a b c"');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toBe("");
    expect(afterLedgerLine(text)).toEqual(["Queued task #1 count_words (queue default)"]);

    const asJson = await cli(
      "enqueue",
      "count_words",
      "--description",
      "as json",
      "--payload",
      '"a b c"',
      "--owner",
      "alice",
      "--json",
    );
    expect(asJson.code, asJson.stderr).toBe(0);
    expect(json(asJson)).toMatchObject({
      id: 2,
      name: "count_words",
      description: "as json",
      owner: "alice",
      queue: "default",
      status: "queued",
      failed: false,
      progress: 0,
      payload: "a b c",
      result: null,
      reservedAt: null,
    });
    expect(tableCounts(file)).toMatchObject({ tasks: 2 });
    expect(inQueue(file)).toBe(2);
  });

  it("reserves the task with --at", async () => {
    const at = new Date(Date.now() + 3_600_000);
    at.setMilliseconds(0);
    const text = await cli("enqueue", "count_words", "--description", "later", "--at", at.toISOString());
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Reserved task #1 count_words for \S+ \S+ \(queue [\w-]+\)$/m);

    const asJson = await cli(
      "enqueue",
      "count_words",
      "--description",
      "later too",
      "--at",
      at.toISOString(),
      "--json",
    );
    expect(asJson.code, asJson.stderr).toBe(0);
    expect(json(asJson)).toMatchObject({ id: 2, status: "reserved", reservedAt: at.toISOString() });

    const reserved = json(await cli("tasks", "list", "--status", "reserved", "--json"));
    expect(reserved.tasks.map((t: { id: number }) => t.id)).toEqual([2, 1]);
  });
});

describe("tasks", () => {
  it("lists newest first, as a table and as JSON pages with nextCursor", async () => {
    for (const n of [1, 2, 3]) await enqueueWords(`words ${n}`);

    const table = await cli("tasks", "list");
    expect(table.code, table.stderr).toBe(0);
    const lines = afterLedgerLine(table);
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STATUS\s+PROGRESS\s+OWNER\s+QUEUE\s+DESCRIPTION\s+AT$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 3))).toEqual([
      ["3", "count_words", "queued"],
      ["2", "count_words", "queued"],
      ["1", "count_words", "queued"],
    ]);

    const first = json(await cli("tasks", "list", "--limit", "2", "--json"));
    expect(first.tasks.map((t: { id: number }) => t.id)).toEqual([3, 2]);
    expect(first.nextCursor).toBe(2);
    const second = json(
      await cli("tasks", "list", "--limit", "2", "--cursor", String(first.nextCursor), "--json"),
    );
    expect(second.tasks.map((t: { id: number }) => t.id)).toEqual([1]);
    expect(second.nextCursor).toBeNull();
  });

  it("filters by --status, and refuses an unknown status naming the field", async () => {
    const kept = await enqueueWords("kept");
    const dropped = await enqueueWords("dropped");
    expect((await cli("tasks", "cancel", String(dropped))).code).toBe(0);

    const canceled = json(await cli("tasks", "list", "--status", "canceled", "--json"));
    expect(canceled.tasks.map((t: { id: number }) => t.id)).toEqual([dropped]);
    const both = json(await cli("tasks", "list", "--status", "queued,canceled", "--json"));
    expect(both.tasks.map((t: { id: number }) => t.id)).toEqual([dropped, kept]);

    const bad = await cli("tasks", "list", "--status", "bogus");
    expect(bad.code).toBe(1);
    expectOneErrorLine(bad, "status", '"bogus"');
    const badJson = await cli("tasks", "list", "--status", "bogus", "--json");
    expect(badJson.code).toBe(1);
    expect(json(badJson).error).toMatchObject({ code: "invalid_input", field: "status" });

    const badCursor = await cli("tasks", "list", "--cursor", "abc");
    expect(badCursor.code).toBe(1);
    expectOneErrorLine(badCursor, "cursor", "abc");
  });

  it("shows one task, as text and as JSON", async () => {
    const id = await enqueueWords("show me", "to be or not");

    const text = await cli("tasks", "show", String(id));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^id\s+1$/m);
    expect(text.stdout).toMatch(/^description\s+show me$/m);
    expect(text.stdout).toMatch(/^status\s+queued$/m);
    expect(text.stdout).toMatch(/^payload\s+"to be or not"$/m);

    const asJson = json(await cli("tasks", "show", String(id), "--json"));
    expect(asJson).toMatchObject({
      id,
      name: "count_words",
      description: "show me",
      status: "queued",
      payload: "to be or not",
    });

    const missing = await cli("tasks", "show", "99");
    expect(missing.code).toBe(1);
    expectOneErrorLine(missing, "no task 99");
    const notAnId = await cli("tasks", "show", "abc");
    expect(notAnId.code).toBe(1);
    expectOneErrorLine(notAnId, "id", "abc");
  });

  it("cancels a queued task; a second cancel is refused with the reason", async () => {
    const id = await enqueueWords("cancel me");
    const canceled = await cli("tasks", "cancel", String(id));
    expect(canceled.code, canceled.stderr).toBe(0);
    expect(afterLedgerLine(canceled)).toEqual([`Task #${id} count_words canceled.`]);
    expect(json(await cli("tasks", "show", String(id), "--json")).status).toBe("canceled");

    const again = await cli("tasks", "cancel", String(id));
    expect(again.code).toBe(1);
    expectOneErrorLine(again, `task ${id} is already canceled`);
    const againJson = await cli("tasks", "cancel", String(id), "--json");
    expect(againJson.code).toBe(1);
    expect(json(againJson)).toMatchObject({
      ok: false,
      reason: `task ${id} is already canceled`,
      task: { status: "canceled" },
    });
  });
});

describe("failed and canceled", () => {
  it("are apart everywhere: --status failed, finished and canceled each list their own; --failed is --status failed; status counts each", async () => {
    const { tl } = openLedger({ url: opts.database!, tasks: ENDING_TASKS });
    const ids = await oneOfEachEnd(tl);
    const listed = async (...flags: string[]) =>
      json(await cli("tasks", "list", ...flags, "--json")).tasks.map((t: { id: number }) => t.id);
    expect(await listed("--status", "failed")).toEqual([ids.failed]);
    expect(await listed("--failed")).toEqual([ids.failed]);
    expect(await listed("--status", "finished")).toEqual([ids.finished]);
    expect(await listed("--status", "canceled")).toEqual([ids.canceled]);
    expect(await listed("--status", "failed,canceled")).toEqual([ids.failed, ids.canceled]);

    const rows = afterLedgerLine(await cli("tasks", "list")).slice(1);
    expect(rows.map((row) => row.split(/\s+/).slice(0, 3))).toEqual([
      [String(ids.failed), "fails", "failed"],
      [String(ids.finished), "succeeds", "finished"],
      [String(ids.canceled), "succeeds", "canceled"],
    ]);

    const status = afterLedgerLine(await cli("status"));
    expect(status[0]).toMatch(/^QUEUE\s+RESERVED\s+QUEUED\s+RUNNING\s+FINISHED\s+FAILED\s+CANCELED$/);
    expect(status[1]).toMatch(/^default\s+0\s+0\s+0\s+1\s+1\s+1$/);
    expect(json(await cli("status", "--json")).counts).toEqual([
      { queue: "default", status: "finished", count: 1 },
      { queue: "default", status: "failed", count: 1 },
      { queue: "default", status: "canceled", count: 1 },
    ]);
  });
});

describe("the ledger a command uses", () => {
  it("is never created by a read: in a folder without one, each read names the file it looked for, exit 1, and leaves the folder empty", async () => {
    const empty = tempDir("tl-cli-empty-");
    const here = { cwd: empty, database: null };
    const looked = join(empty, "taskledger.db");
    const reads = [
      ["tasks"],
      ["tasks", "list"],
      ["tasks", "show", "1"],
      ["tasks", "cancel", "1"],
      ["schedules", "list"],
      ["schedules", "runs", "fetch-rss"],
      ["schedules", "pause", "fetch-rss"],
      ["schedules", "resume", "fetch-rss"],
      ["schedules", "remove", "fetch-rss"],
      ["status"],
    ];
    for (const args of reads) {
      const result = await run(args, here);
      expect(result.code, args.join(" ")).toBe(1);
      expectOneErrorLine(
        result,
        `no ledger at ${looked} (run taskledger migrate to create one, or pass --database)`,
      );
    }
    const asJson = await run(["tasks", "list", "--json"], here);
    expect(asJson.code).toBe(1);
    expect(json(asJson).error).toMatchObject({ code: "not_found", field: "database" });
    expect(readdirSync(empty)).toEqual([]);
  });

  it("is not created by status --database naming a missing folder, nor is the folder; the commands that write create both", async () => {
    const missing = join(dir, "no", "such", "ledger.db");
    const result = await cli("status", "--database", `sqlite:${missing}`);
    expect(result.code).toBe(1);
    expectOneErrorLine(result, `no ledger at ${missing}`);
    expect(existsSync(join(dir, "no"))).toBe(false);

    const enqueued = await cli(
      "enqueue",
      "count_words",
      "--description",
      "x",
      "--database",
      `sqlite:${missing}`,
    );
    expect(enqueued.code, enqueued.stderr).toBe(0);
    expect(tableCounts(missing).tasks).toBe(1);
    const synced = join(dir, "other", "synced.db");
    const sync = await cli("schedules", "sync", "--database", `sqlite:${synced}`);
    expect(sync.code, sync.stderr).toBe(0);
    expect(tableCounts(synced).scheduled_tasks).toBe(1);
  });

  it("is named on the first line of every command's human output, and not in --json", async () => {
    const id = await enqueueWords("named");
    for (const args of [
      ["migrate"],
      ["enqueue", "count_words", "--description", "again"],
      ["tasks", "list"],
      ["tasks", "show", String(id)],
      ["tasks", "cancel", String(id)],
      ["schedules", "sync"],
      ["schedules", "list"],
      ["schedules", "runs", "fetch-rss"],
      ["status"],
    ]) {
      const text = await cli(...args);
      expect(text.code, `${args.join(" ")}: ${text.stderr}`).toBe(0);
      expect(text.stdout.split("\n")[0], args.join(" ")).toBe(`ledger: ${file}`);
    }
    for (const args of [["tasks", "list"], ["status"], ["schedules", "list"]]) {
      const asJson = await cli(...args, "--json");
      expect(() => JSON.parse(asJson.stdout), args.join(" ")).not.toThrow();
      expect(asJson.stdout).not.toContain("ledger:");
    }
  });
});

describe("status", () => {
  it("prints the counts per queue and status, and the live workers", async () => {
    await enqueueWords("one");
    await enqueueWords("two");

    const text = await cli("status");
    expect(text.code, text.stderr).toBe(0);
    const lines = afterLedgerLine(text);
    expect(lines[0]).toMatch(/^QUEUE\s+RESERVED\s+QUEUED\s+RUNNING\s+FINISHED\s+FAILED\s+CANCELED$/);
    expect(lines[1]).toMatch(/^default\s+0\s+2\s+0\s+0\s+0\s+0$/);
    expect(text.stdout).toContain("No workers running.");

    const asJson = json(await cli("status", "--json"));
    expect(asJson).toMatchObject({
      database: file,
      counts: [{ queue: "default", status: "queued", count: 2 }],
      workers: [],
    });
  });

  it("says so when the ledger is empty", async () => {
    expect((await cli("migrate")).code).toBe(0);
    const text = await cli("status");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("No tasks yet.");
  });
});

describe("usage and errors", () => {
  it("prints help and the version", async () => {
    const help = await cli("--help");
    expect(help.code).toBe(0);
    for (const name of ["start", "worker", "migrate", "enqueue", "tasks", "status"]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${name}\\s`, "m"));
    }
    const enqueueHelp = await cli("enqueue", "--help");
    expect(enqueueHelp.code).toBe(0);
    expect(enqueueHelp.stdout).toMatch(/^taskledger enqueue — /);
    expect(enqueueHelp.stdout).toMatch(/^Usage: taskledger enqueue <task>/m);

    const version = await cli("--version");
    expect(version.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  it("takes the global options before the command too", async () => {
    expect((await cli("migrate")).code).toBe(0);
    const before = await run(["--json", "--database", opts.database!, "status"], { ...opts, database: null });
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ counts: [] });
    const joined = await run([`--database=${opts.database}`, "status"], { ...opts, database: null });
    expect(joined.code).toBe(0);
    expect(joined.stdout).toContain("No tasks yet.");
  });

  it.each([
    { args: [], says: "Usage: taskledger <command>" },
    { args: ["--json"], says: "Usage: taskledger <command>" },
  ])("without a command prints the help on stderr, exit 2: $args", async ({ args, says }) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(says);
  });

  it.each([
    {
      args: ["tasks", "list", "--staus", "failed"],
      says: "taskledger tasks list: unknown option --staus (see taskledger tasks list --help)",
    },
    {
      args: ["--staus", "failed", "tasks"],
      says: "taskledger: unknown option --staus (see taskledger --help)",
    },
    {
      args: ["tasks", "--staus", "failed"],
      says: "taskledger tasks list: unknown option --staus (see taskledger tasks list --help)",
    },
    {
      args: ["tasks", "list", "--status"],
      says: "taskledger tasks list: --status needs a value: --status S[,S] (see taskledger tasks list --help)",
    },
    {
      args: ["enqueue", "count_words", "--description", "x", "--priority", "-5"],
      says: 'taskledger enqueue: --priority needs a value; one that starts with "-" is written --priority=-5 (see taskledger enqueue --help)',
    },
    {
      args: ["tasks", "show", "1", "--follow=yes"],
      says: "taskledger tasks show: --follow takes no value (see taskledger tasks show --help)",
    },
    {
      args: ["tasks", "show", "1", "--reservation"],
      says: "taskledger tasks show: unknown option --reservation (see taskledger tasks show --help)",
    },
    {
      args: ["enqueue", "count_words", "-x"],
      says: "taskledger enqueue: unknown option -x (see taskledger enqueue --help)",
    },
    { args: ["frobnicate"], says: 'taskledger: unknown command "frobnicate" (see taskledger --help)' },
    {
      args: ["enqueue"],
      says: "taskledger enqueue: name the task to enqueue (see taskledger enqueue --help)",
    },
    {
      args: ["enqueue", "count_words", "extra", "--description", "x"],
      says: 'taskledger enqueue: unexpected argument "extra" (see taskledger enqueue --help)',
    },
    {
      args: ["tasks", "frob"],
      says: 'taskledger tasks: unknown subcommand "frob" (see taskledger tasks --help)',
    },
    {
      args: ["tasks", "show"],
      says: "taskledger tasks show: give a task id (see taskledger tasks show --help)",
    },
    {
      args: ["tasks", "show", "1", "2"],
      says: 'taskledger tasks show: unexpected argument "2" (see taskledger tasks show --help)',
    },
  ])(
    "answers a usage error with one line of its own, exit 2, writing nothing: $args",
    async ({ args, says }) => {
      const result = await cli(...args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(`${says}\n`);
      expect(existsSync(file)).toBe(false);
    },
  );

  it("every command's --help lists each of its options with a sentence, and the default of each that takes a value", async () => {
    const leaves = commands.flatMap((c) =>
      "subcommands" in c
        ? c.subcommands.map((s) => ({ label: `${c.name} ${s.name}`, flags: s.flags }))
        : [{ label: c.name, flags: c.flags }],
    );
    const globals = { config: "string", database: "string", json: "boolean", help: "boolean" };
    for (const { label, flags } of leaves) {
      const help = await cli(...label.split(" "), "--help");
      expect(help.code, label).toBe(0);
      expect(help.stdout, label).toMatch(new RegExp(`^taskledger ${label} — \\S`));
      expect(help.stdout, label).toMatch(new RegExp(`^Usage: taskledger ${label} `, "m"));
      const entries = optionEntries(help.stdout);
      const expected = {
        ...globals,
        ...Object.fromEntries(Object.entries(flags).map(([n, f]) => [n, f.type])),
      };
      expect(Object.keys(entries).sort(), label).toEqual(Object.keys(expected).sort());
      for (const [name, type] of Object.entries(expected)) {
        expect(entries[name]!.text, `${label} --${name}`).toMatch(/\S+ \S+/);
        if (type === "string" && name !== "description")
          expect(entries[name]!.text, `${label} --${name}`).toMatch(/\(default: [^)]+/);
      }
    }
  });

  it("says what --retry counts, the default timeout, --follow, --reservation and --version", async () => {
    const enqueue = optionEntries((await cli("enqueue", "--help")).stdout);
    expect(enqueue.retry!.text).toContain("retries after a failed first attempt, so N + 1 attempts at most");
    expect(enqueue.retry!.text).toContain("(default: the task's own, else 3");
    expect(enqueue.timeout!.text).toContain("(default: the task's own, else 60000, one minute)");
    expect(enqueue.description!.text).toContain("required");
    const show = optionEntries((await cli("tasks", "show", "--help")).stdout);
    expect(show.follow!.text).toContain("until it ends");
    const cancel = optionEntries((await cli("tasks", "cancel", "--help")).stdout);
    expect(cancel.reservation!.text).toContain("only while the task is still reserved");
    const list = optionEntries((await cli("tasks", "list", "--help")).stdout);
    expect(list.status!.text).toContain("reserved, queued, running, finished, failed, canceled");
    expect(list.failed!.text).toContain("the same as --status failed");
    const main = await cli("--help");
    expect(optionEntries(main.stdout).version!.text).toContain("version");
    const group = await cli("tasks", "--help");
    expect(group.code).toBe(0);
    expect(group.stdout).toMatch(/^ {2}cancel\s+cancel a task/m);
  });

  it("refuses bad input naming the field, exit 1, and writes nothing", async () => {
    await enqueueWords("the only task");
    const before = tableCounts(file);
    const past = new Date(Date.now() - 60_000).toISOString();
    const cases: { args: string[]; field: string }[] = [
      { args: ["enqueue", "no_such_task", "--description", "x"], field: "task" },
      { args: ["enqueue", "count_words", "--payload", '"a"'], field: "description" },
      { args: ["enqueue", "count_words", "--description", "x", "--payload", "{not json"], field: "payload" },
      { args: ["enqueue", "count_words", "--description", "x", "--at", past], field: "at" },
      { args: ["enqueue", "count_words", "--description", "x", "--at", "next tuesday"], field: "at" },
      { args: ["enqueue", "count_words", "--description", "x", "--timeout", "soon"], field: "timeout" },
      { args: ["tasks", "list", "--limit", "0"], field: "limit" },
    ];
    for (const { args, field } of cases) {
      const text = await cli(...args);
      expect(text.code, args.join(" ")).toBe(1);
      expectOneErrorLine(text, "taskledger: error:", `${field}:`);
      const asJson = await cli(...args, "--json");
      expect(asJson.code, args.join(" ")).toBe(1);
      expect(json(asJson).error, args.join(" ")).toMatchObject({ field });
    }
    expect(tableCounts(file)).toEqual(before);
  });
});
