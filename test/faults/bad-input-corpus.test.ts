import BetterSqlite3 from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createDashboardHandler, type Dashboard } from "../../src/dashboard/index.js";
import { createHttpHandler, type HttpHandler } from "../../src/http/index.js";
import {
  createTaskledger,
  defineTask,
  type ScheduleEntry,
  type Taskledger,
  TaskledgerError,
  type TaskledgerOptions,
} from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { createScheduler } from "../../src/scheduler/scheduler.js";
import { run, writeGatedConfig } from "../cli/cli.js";
import { openLedger } from "../flow/fixture.js";
import { tableCounts, tempDatabase, tempDir } from "../helpers/index.js";
import { clientFor, ORIGIN, testAuthenticate } from "../http/client.js";

/**
 * Bad input at every door — the library, `POST /api/tasks`, the CLI — is refused with a
 * TaskledgerError naming the field (HTTP 400 `{ error: { code, message, field } }`, CLI exit 1 with
 * the message), and nothing is written. A list of schedules answers even when one row in it
 * cannot be read.
 */

const DAY = 86_400_000;
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });
const ok = { description: "d", owner: "alice" };

/** `{ a: { a: … } }`, `levels` deep. */
function nested(levels: number): unknown {
  let value: unknown = {};
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}
const tomorrowWithoutZone = () => new Date(Date.now() + DAY).toISOString().slice(0, 19);

const handlers: { close(): void }[] = [];
afterEach(() => {
  for (const handler of handlers.splice(0)) handler.close();
});

/** Calls `attempt` and returns what it threw; fails the test if it did not throw. */
async function refusal(attempt: () => unknown): Promise<TaskledgerError> {
  const error = await Promise.resolve()
    .then(attempt)
    .then(
      (value) => {
        throw new Error(`expected a refusal, got ${JSON.stringify(value)?.slice(0, 200)}`);
      },
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(TaskledgerError);
  return error as TaskledgerError;
}

/** A ledger with a task, a reservation and a schedule on file, so "unchanged" means more than "empty". */
async function ledgerWithRows(options: Partial<TaskledgerOptions> = {}) {
  const fixture = openLedger({ tasks: [echo], ...options });
  await fixture.tl.tasks.enqueue(echo, 1, ok);
  await fixture.tl.tasks.reserve(Date.now() + 60_000, echo, 2, ok);
  await fixture.tl.schedules.schedule({ key: "existing", task: echo, description: "d", every: 60_000 });
  return fixture;
}

type LibraryCase = readonly [
  label: string,
  call: (tl: Taskledger) => unknown,
  field: string,
  message: RegExp,
];

const every = (extra: Partial<ScheduleEntry>) =>
  ({ key: "k", task: echo, description: "d", every: 60_000, ...extra }) as ScheduleEntry;

const LIBRARY: LibraryCase[] = [
  // Timeouts beyond what a Node.js timer can wait (it would fire after 1 ms).
  [
    "enqueue timeout 2^31",
    (tl) => tl.tasks.enqueue(echo, 1, { ...ok, timeout: 2 ** 31 }),
    "timeout",
    /at most 2147483647 ms/,
  ],
  [
    "reserve timeout 1e30",
    (tl) => tl.tasks.reserve(Date.now() + 60_000, echo, 1, { ...ok, timeout: 1e30 }),
    "timeout",
    /at most 2147483647/,
  ],
  [
    "schedule timeout 2^31",
    (tl) => tl.schedules.schedule(every({ timeout: 2 ** 31 }) as never),
    "timeout",
    /at most 2147483647/,
  ],
  [
    "defineTask timeout 2^31",
    () => defineTask({ name: "t", run: () => 1, timeout: 2 ** 31 }),
    "timeout",
    /at most 2147483647/,
  ],
  // Reservation times: a real date, with its zone, within the horizon.
  ["reserve at 1e20", (tl) => tl.tasks.reserve(1e20, echo, 1, ok), "at", /beyond the range of dates/],
  [
    "reserve at a time without a zone",
    (tl) => tl.tasks.reserve(tomorrowWithoutZone(), echo, 1, ok),
    "at",
    /has no time zone: add Z or an offset such as \+09:00/,
  ],
  [
    "reserve in year 9999",
    (tl) => tl.tasks.reserve("9999-12-31T00:00:00Z", echo, 1, ok),
    "at",
    /more than 366 days ahead .*reservationHorizonDays \(366\)/,
  ],
  [
    "reserve 367 days ahead",
    (tl) => tl.tasks.reserve(new Date(Date.now() + 367 * DAY), echo, 1, ok),
    "at",
    /more than 366 days ahead/,
  ],
  // Payloads: depth, size, and values JSON would silently change.
  [
    "a payload nested 100,000 deep",
    (tl) => tl.tasks.enqueue(echo, nested(100_000), ok),
    `payload${".a".repeat(100)}`,
    /nests deeper than 100 levels/,
  ],
  [
    "a reserved payload nested 101 deep",
    (tl) => tl.tasks.reserve(Date.now() + 60_000, echo, nested(101), ok),
    `payload${".a".repeat(100)}`,
    /nests deeper than 100 levels/,
  ],
  [
    "a 20 MB payload",
    (tl) => tl.tasks.enqueue(echo, { text: "x".repeat(20_000_000) }, ok),
    "payload",
    /is 20000011 bytes of JSON; the limit is 1048576 \(maxJsonBytes\)/,
  ],
  [
    "a 2 MB payload in enqueueMany",
    (tl) =>
      tl.tasks.enqueueMany([
        { task: echo, payload: 1, options: ok },
        { task: echo, payload: "x".repeat(2_000_000), options: ok },
      ]),
    "items[1].payload",
    /the limit is 1048576 \(maxJsonBytes\)/,
  ],
  [
    "a 2 MB schedule payload",
    (tl) => tl.schedules.register([every({ payload: ["x".repeat(2_000_000)] })]),
    "schedules[0].payload",
    /the limit is 1048576/,
  ],
  [
    "a Date in a payload",
    (tl) => tl.tasks.enqueue(echo, { sendAt: new Date() }, ok),
    "payload.sendAt",
    /a Date is not JSON; use an ISO string: date\.toISOString\(\)/,
  ],
  [
    "a Buffer in a payload",
    (tl) => tl.tasks.enqueue(echo, { file: Buffer.from("hi") }, ok),
    "payload.file",
    /a Buffer is not JSON/,
  ],
  [
    "a Uint8Array in a schedule payload",
    (tl) => tl.schedules.schedule(every({ payload: { bytes: new Uint8Array(2) } }) as never),
    "payload.bytes",
    /a Uint8Array is not JSON/,
  ],
  [
    "undefined in a payload array",
    (tl) => tl.tasks.enqueue(echo, [1, undefined], ok),
    "payload[1]",
    /undefined in an array/,
  ],
  // Queues nobody serves.
  [
    "enqueue to a queue nobody serves",
    (tl) => tl.tasks.enqueue(echo, 1, { ...ok, queue: "nobody" }),
    "queue",
    /unknown queue "nobody": no worker serves it \(known: high, default;/,
  ],
  [
    "reserve to a queue nobody serves",
    (tl) => tl.tasks.reserve(Date.now() + 60_000, echo, 1, { ...ok, queue: "nobody" }),
    "queue",
    /unknown queue "nobody"/,
  ],
  [
    "a schedule to a queue nobody serves",
    (tl) => tl.schedules.cron({ key: "k", task: echo, description: "d", cron: "* * * * *", queue: "nobody" }),
    "queue",
    /unknown queue "nobody"/,
  ],
  // Schedules whose slots would leave the range of dates.
  [
    "schedule every 1e30 ms",
    (tl) => tl.schedules.schedule(every({ every: 1e30 }) as never),
    "every",
    /at most 315360000000 ms \(3650 days/,
  ],
  [
    "register every 2^53 ms",
    (tl) => tl.schedules.register([every({ key: "a" }), every({ every: 2 ** 53 })]),
    "schedules[1].every",
    /at most 315360000000 ms/,
  ],
  [
    "schedule every 8.64e15 ms",
    (tl) => tl.schedules.schedule(every({ every: 8.64e15 }) as never),
    "every",
    /at most 315360000000 ms/,
  ],
  [
    "schedule startAt in year 9999",
    (tl) => tl.schedules.schedule(every({ startAt: "9999-01-01T00:00:00Z" }) as never),
    "startAt",
    /more than 366 days ahead/,
  ],
  [
    "schedule startAt 1e20",
    (tl) => tl.schedules.schedule(every({ startAt: 1e20 }) as never),
    "startAt",
    /beyond the range of dates/,
  ],
  [
    "schedule startAt without a zone",
    (tl) => tl.schedules.schedule(every({ startAt: tomorrowWithoutZone() }) as never),
    "startAt",
    /has no time zone/,
  ],
];

describe("the library refuses bad input, naming the field, writing nothing", () => {
  it.for(LIBRARY)("%s", async ([, call, field, message]) => {
    const { tl, file } = await ledgerWithRows();
    const before = tableCounts(file);
    expect(before).toMatchObject({ tasks: 2, scheduled_tasks: 1 });
    const error = await refusal(() => call(tl));
    expect(error).toMatchObject({ code: "invalid_input", field });
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.message).toMatch(message);
    expect(tableCounts(file)).toEqual(before);
  });

  it("schedules declared in the options are checked at creation", async () => {
    const { url } = tempDatabase();
    for (const [entry, field] of [
      [every({ every: 1e30 }), "schedules[0].every"],
      [every({ startAt: "9999-01-01T00:00:00Z" }), "schedules[0].startAt"],
      [every({ timeout: 2 ** 31 }), "schedules[0].timeout"],
      [every({ queue: "nobody" }), "schedules[0].queue"],
    ] as const) {
      const error = await refusal(() =>
        createTaskledger({ database: url, tasks: [echo], schedules: [entry] }),
      );
      expect(error).toMatchObject({ code: "invalid_input", field });
    }
  });

  it.each([
    [{ reservationHorizonDays: 0 }, "reservationHorizonDays", /positive integer/],
    [{ reservationHorizonDays: 1.5 }, "reservationHorizonDays", /positive integer/],
    [{ reservationHorizonDays: 100_000 }, "reservationHorizonDays", /at most 36525 days/],
    [
      { reservationLeadSeconds: 86_400, reservationHorizonDays: 1 },
      "reservationHorizonDays",
      /longer than reservationLeadSeconds/,
    ],
    [{ maxJsonBytes: 0 }, "maxJsonBytes", /positive integer/],
    [{ maxJsonBytes: "1mb" }, "maxJsonBytes", /positive integer/],
  ])("refuses the setting %o", async (settings, field, message) => {
    const { url } = tempDatabase();
    const error = await refusal(() =>
      createTaskledger({ database: url, tasks: [echo], ...(settings as object) }),
    );
    expect(error).toMatchObject({ code: "invalid_input", field });
    expect(error.message).toMatch(message);
  });

  it("takes the limits from the settings: a longer horizon, a larger or smaller maxJsonBytes", async () => {
    const { tl } = openLedger({ tasks: [echo], reservationHorizonDays: 3_650, maxJsonBytes: 3_000_000 });
    const far = await tl.tasks.reserve(new Date(Date.now() + 3_000 * DAY), echo, null, ok);
    expect(far.status).toBe("reserved");
    const big = await tl.tasks.enqueue(echo, "x".repeat(2_000_000), ok);
    expect((big.payload as string).length).toBe(2_000_000);
    const small = openLedger({ tasks: [echo], maxJsonBytes: 100 });
    await expect(small.tl.tasks.enqueue(echo, "é".repeat(50), ok)).rejects.toThrow(
      "payload: is 102 bytes of JSON; the limit is 100 (maxJsonBytes)",
    );
    expect((await small.tl.tasks.enqueue(echo, "é".repeat(49), ok)).payload).toBe("é".repeat(49));
  });

  it("follows JSON for undefined: an object property is left out, a top-level payload is null", async () => {
    const { tl } = openLedger({ tasks: [echo] });
    const a = await tl.tasks.enqueue(echo, { kept: 1, dropped: undefined, inner: { gone: undefined } }, ok);
    const b = await tl.tasks.enqueue(echo, undefined, ok);
    expect((await tl.tasks.get(a.id))?.payload).toEqual({ kept: 1, inner: {} });
    expect((await tl.tasks.get(b.id))?.payload).toBeNull();
  });
});

/** Members of a POST /api/tasks body, as JSON text (a value nested 100,000 deep cannot go through JSON.stringify). */
type HttpCase = readonly [label: string, members: string, field: string, message: RegExp];

const HTTP: HttpCase[] = [
  ["runAt 1e20", '"runAt": 1e20', "runAt", /beyond the range of dates/],
  [
    "runAt without a zone",
    `"runAt": ${JSON.stringify(tomorrowWithoutZone())}`,
    "runAt",
    /has no time zone: add Z or an offset such as \+09:00/,
  ],
  ["runAt in year 9999", '"runAt": "9999-12-31T00:00:00Z"', "runAt", /more than 366 days ahead/],
  [
    "a payload nested 100,000 deep",
    `"payload": ${'{"a":'.repeat(100_000)}{}${"}".repeat(100_000)}`,
    `payload${".a".repeat(100)}`,
    /nests deeper than 100 levels/,
  ],
  [
    "a payload over maxJsonBytes (but within the body limit)",
    `"payload": ${JSON.stringify("x".repeat(1_048_576))}`,
    "payload",
    /is 1048578 bytes of JSON; the limit is 1048576 \(maxJsonBytes\)/,
  ],
  ["a queue nobody serves", '"queue": "nobody"', "queue", /unknown queue "nobody": no worker serves it/],
];

describe("POST /api/tasks refuses bad input with 400 naming the field, writing nothing", () => {
  async function setup() {
    const fixture = await ledgerWithRows();
    const api: HttpHandler = createHttpHandler(fixture.tl, { authenticate: testAuthenticate });
    handlers.push(api);
    return { ...fixture, api, alice: clientFor(api, "alice") };
  }

  it.for(HTTP)("%s", async ([, members, field, message]) => {
    const { api, file } = await setup();
    const before = tableCounts(file);
    const response = await api(
      new Request(`${ORIGIN}/api/tasks`, {
        method: "POST",
        headers: {
          "x-test-user": "alice",
          "content-type": "application/json",
          "sec-fetch-site": "same-origin",
        },
        body: `{ "task": "echo", "description": "d", ${members} }`,
      }),
    );
    expect(response.status).toBe(400);
    const { error } = await response.json();
    expect(error).toMatchObject({ code: "invalid_input", field });
    expect(error.message).toMatch(message);
    expect(tableCounts(file)).toEqual(before);
  });

  it("refuses a 20 MB body with 413 before reading it all; the default limit follows maxJsonBytes", async () => {
    const { alice, file } = await setup();
    const before = tableCounts(file);
    const response = await alice.post("/api/tasks", {
      task: "echo",
      description: "d",
      payload: "x".repeat(20_000_000),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: { code: "payload_too_large", message: "request body is larger than 1114112 bytes" },
    });
    expect(tableCounts(file)).toEqual(before);

    const larger = openLedger({ tasks: [echo], maxJsonBytes: 3_000_000 });
    const api = createHttpHandler(larger.tl, { authenticate: testAuthenticate });
    handlers.push(api);
    const accepted = await clientFor(api, "alice").post("/api/tasks", {
      task: "echo",
      description: "d",
      payload: "x".repeat(2_000_000),
    });
    expect(accepted.status).toBe(201);
  });
});

describe("the CLI refuses bad input, exit 1 with the message, writing nothing", () => {
  /** A config with `echo` (and a small maxJsonBytes: one argument of a command line holds at most 128 KiB). */
  async function cliSetup(extra = ", maxJsonBytes: 10_000") {
    const dir = tempDir("tl-corpus-");
    writeGatedConfig(dir, { extra });
    const { url, file } = tempDatabase();
    await openLedger({ tasks: [echo], url }).tl.migrate();
    return { file, cli: (...args: string[]) => run(args, { cwd: dir, database: url }) };
  }

  const CASES: [label: string, args: string[], field: string, message: string][] = [
    ["--timeout 2^31", ["--timeout", String(2 ** 31)], "timeout", "at most 2147483647 ms"],
    ["--at 1e20", ["--at", "1e20"], "at", "give an ISO-8601 time with its zone"],
    [
      "--at without a zone",
      ["--at", tomorrowWithoutZone()],
      "at",
      "has no time zone: add Z or an offset such as +09:00",
    ],
    ["--at in year 9999", ["--at", "9999-12-31T00:00:00Z"], "at", "more than 366 days ahead"],
    // 60,000 levels: as deep as one command-line argument can carry.
    [
      "--payload nested 60,000 deep",
      ["--payload", `${"[".repeat(60_000)}${"]".repeat(60_000)}`],
      `payload${"[0]".repeat(100)}`,
      "nests deeper than 100 levels",
    ],
    [
      "--payload over maxJsonBytes",
      ["--payload", JSON.stringify("x".repeat(20_000))],
      "payload",
      "is 20002 bytes of JSON; the limit is 10000 (maxJsonBytes)",
    ],
    ["--queue nobody", ["--queue", "nobody"], "queue", 'unknown queue "nobody": no worker serves it'],
  ];

  it("enqueue", async () => {
    const { cli, file } = await cliSetup();
    const first = await cli("enqueue", "echo", "--description", "existing", "--payload", "1");
    expect(first.code, first.stderr).toBe(0);
    const before = tableCounts(file);
    for (const [label, args, field, message] of CASES) {
      const result = await cli("enqueue", "echo", "--description", "d", ...args);
      expect(result.code, label).toBe(1);
      expect(result.stdout, label).toBe("");
      expect(result.stderr, label).toContain(`taskledger: error: ${field}: `);
      expect(result.stderr, label).toContain(message);
      const asJson = await cli("enqueue", "echo", "--description", "d", ...args, "--json");
      expect(asJson.code, label).toBe(1);
      expect(JSON.parse(asJson.stdout).error, label).toMatchObject({ code: "invalid_input", field });
    }
    expect(tableCounts(file)).toEqual(before);
  });

  it.each([
    ["every: 1e30", "schedules[0].every", "at most 315360000000 ms"],
    ['startAt: "9999-01-01T00:00:00Z"', "schedules[0].startAt", "more than 366 days ahead"],
    ["timeout: 2 ** 31", "schedules[0].timeout", "at most 2147483647 ms"],
    ['queue: "nobody"', "schedules[0].queue", 'unknown queue "nobody"'],
  ])("schedules sync of a config entry with %s", async (option, field, message) => {
    const { cli, file } = await cliSetup(
      `, schedules: [{ key: "k", task: "echo", description: "d", every: 60_000, ${option} }]`,
    );
    const before = tableCounts(file);
    const result = await cli("schedules", "sync");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`taskledger: error: ${field}: `);
    expect(result.stderr).toContain(message);
    expect(tableCounts(file)).toEqual(before);
  });
});

describe("a list of schedules answers with a row it cannot read", () => {
  /**
   * Two good schedules and two rows as a damaged ledger (or an older version accepting
   * `every: 1e30`) leaves them: one whose next run is 1e30 ms, one whose spec and payload are
   * not JSON and whose next run is 1e30.
   */
  async function withBadRows() {
    const fixture = openLedger({ tasks: [echo] });
    const { tl, file } = fixture;
    await tl.schedules.schedule({ key: "a-good", task: echo, description: "good", every: 60_000 });
    await tl.schedules.cron({ key: "z-good", task: echo, description: "good too", cron: "0 9 * * *" });
    const db = new BetterSqlite3(file);
    const now = Date.now();
    const insert = db.prepare(
      `insert into scheduled_tasks (key, name, description, owner, type, payload, spec, status, paused_at,
         next_run_at, last_run_at, run_count, declared, created_at, updated_at)
       values (?, 'echo', ?, null, 'schedule', ?, ?, 'running', null, ?, ?, 1, 0, ?, ?)`,
    );
    const spec = {
      every: 1e30,
      startAt: now,
      repeat: null,
      overlap: "skip",
      run: { queue: "default", priority: 0, timeoutMs: 1000, maxAttempts: 1, retry: "0" },
    };
    insert.run("huge-interval", "every 1e30 ms", "null", JSON.stringify(spec), now + 1e30, now, now, now);
    insert.run("unreadable", "written by hand", "{not json", "not json", 1e30, now, now, now);
    db.close();
    return fixture;
  }

  it("through the library", async () => {
    const { tl } = await withBadRows();
    const list = await tl.schedules.list();
    expect(list.map((s) => [s.key, s.unreadable])).toEqual([
      ["a-good", []],
      ["huge-interval", ["nextRunAt"]],
      ["unreadable", ["spec", "payload", "nextRunAt"]],
      ["z-good", []],
    ]);
    const bad = (await tl.schedules.get("unreadable"))!;
    expect(bad).toMatchObject({
      description: "written by hand",
      every: null,
      queue: null,
      payload: null,
      nextRunAt: null,
      runCount: 1,
      lastRunAt: expect.any(Date),
    });
    await expect(tl.schedules.pause("unreadable")).resolves.toMatchObject({ pausedAt: expect.any(Date) });
    await expect(tl.schedules.resume("unreadable")).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/unreadable stored spec; write it again .* or remove it/),
    });
    // Writing it again repairs it.
    const repaired = await tl.schedules.schedule({
      key: "unreadable",
      task: echo,
      description: "d",
      every: 60_000,
    });
    expect(repaired.unreadable).toEqual([]);
    expect(repaired.nextRunAt).toBeInstanceOf(Date);
  });

  it("through GET /api/schedules and GET /api/schedules/:key", async () => {
    const { tl } = await withBadRows();
    const api = createHttpHandler(tl, { authenticate: testAuthenticate });
    handlers.push(api);
    const root = clientFor(api, "root");
    const response = await root.get("/api/schedules");
    expect(response.status).toBe(200);
    const { schedules } = await response.json();
    expect(schedules.map((s: { key: string }) => s.key)).toEqual([
      "a-good",
      "huge-interval",
      "unreadable",
      "z-good",
    ]);
    expect(schedules[2]).toMatchObject({
      key: "unreadable",
      description: "written by hand",
      every: null,
      nextRunAt: null,
      unreadable: ["spec", "payload", "nextRunAt"],
      runs: [],
    });
    expect(schedules[0].nextRunAt).toMatch(/Z$/);
    const one = await root.get("/api/schedules/huge-interval");
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ every: 1e30, nextRunAt: null, unreadable: ["nextRunAt"] });
  });

  it("through /admin/schedules in the dashboard", async () => {
    const { tl } = await withBadRows();
    const dashboard: Dashboard = createDashboardHandler(tl, {
      authenticate: testAuthenticate,
      secret: "a bad-input corpus secret",
    });
    handlers.push(dashboard);
    const get = (path: string) =>
      dashboard(new Request(`${ORIGIN}${path}`, { headers: { "x-test-user": "root" } }));
    const page = await get("/admin/schedules");
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const key of ["a-good", "huge-interval", "unreadable", "z-good"])
      expect(html).toContain(`>${key}</a>`);
    const row = html.slice(html.indexOf(">unreadable</a>"), html.indexOf(">z-good</a>"));
    expect(row.match(/>invalid</g)).toHaveLength(2); // its spec and its next run
    const bad = (await tl.schedules.get("unreadable"))!;
    const detail = await get(`/admin/schedules/${bad.id}`);
    expect(detail.status).toBe(200);
    expect(await detail.text()).toContain("written by hand");
  });

  it("through taskledger schedules list", async () => {
    const { url } = await withBadRows();
    const dir = tempDir("tl-corpus-");
    writeGatedConfig(dir);
    const cli = (...args: string[]) => run(args, { cwd: dir, database: url });
    const text = await cli("schedules", "list");
    expect(text.code, text.stderr).toBe(0);
    const line = text.stdout.split("\n").find((l) => l.includes(" unreadable "))!;
    expect(line).toMatch(
      /unreadable\s+echo\s+invalid\s+running — active\s+invalid\s+\S+ \S+Z\s+1\s+written by hand/,
    );
    for (const key of ["a-good", "huge-interval", "z-good"]) expect(text.stdout).toContain(key);
    const asJson = await cli("schedules", "list", "--json");
    expect(asJson.code, asJson.stderr).toBe(0);
    const { schedules } = JSON.parse(asJson.stdout);
    expect(schedules.map((s: { unreadable: string[] }) => s.unreadable)).toEqual([
      [],
      ["nextRunAt"],
      ["spec", "payload", "nextRunAt"],
      [],
    ]);
  });

  it("and the scheduler stops a due row it cannot read, firing the others", async () => {
    const { tl, file } = await withBadRows();
    const db = new BetterSqlite3(file);
    db.prepare("update scheduled_tasks set next_run_at = ?").run(Date.now() - 1_000);
    db.close();
    const scheduler = createScheduler(runtimeOf(tl), tl.schedules);
    const report = await scheduler.tick();
    const fired = await Promise.all(
      report.fired.map(async (f) => (await tl.schedules.get(f.scheduleId))!.key),
    );
    expect(fired.sort()).toEqual(["a-good", "huge-interval", "z-good"]);
    expect(await tl.schedules.get("unreadable")).toMatchObject({
      nextRunAt: null,
      unreadable: ["spec", "payload"],
    });
    await scheduler.stop();
  });
});
