import { randomBytes } from "node:crypto";
import { afterAll, inject } from "vitest";
import { tempDatabase } from "./index.js";
import {
  createServer,
  LABELS,
  missingBinary,
  removeServer,
  type ServiceName,
  type ServiceSpec,
  type ServicesContext,
  sql,
  startServer,
  stopServer,
} from "./services.js";

/**
 * The test files' side of the servers global setup started (`services.ts`): which SQL dialects
 * can run, a fresh database (or Redis key prefix) per call, and stopping/starting a server.
 *
 * A suite runs once per dialect; where a server is missing it skips, saying why on stderr —
 * unless TASKLEDGER_TEST_STRICT=1 (CI): then it runs, and `freshDatabaseUrl` throws the reason, so
 * every test of the block fails with it:
 *
 *   for (const dialect of DIALECTS)
 *     describe.skipIf(skipped(dialect))(`on ${dialect.name}`, () => {
 *       let url: string;
 *       beforeEach(async () => { url = await freshDatabaseUrl(dialect.name); });
 *       it("…", async () => { … });
 *     });
 *
 * A single test: `it("…", async (ctx) => { needsService(ctx, "redis"); … })`.
 * A SQLite URL lives for the current test only (`tempDatabase()`): take it in `beforeEach` or in
 * the test. PostgreSQL/MariaDB databases live until the file ends (dropped in an `afterAll`).
 */
export type DialectName = "sqlite" | "postgres" | "mysql";
export interface DialectCase {
  readonly name: DialectName;
  /** Why its server is not available (the suite skips, or fails under TASKLEDGER_TEST_STRICT=1). */
  readonly missing?: string;
}

export const STRICT = process.env.TASKLEDGER_TEST_STRICT === "1";

const services: ServicesContext = (inject("services") as ServicesContext | undefined) ?? {
  root: "",
  servers: {},
  missing: {
    redis: "no services: global setup (test/helpers/global-setup.ts) did not run",
    postgres: "no services: global setup (test/helpers/global-setup.ts) did not run",
    mysql: "no services: global setup (test/helpers/global-setup.ts) did not run",
  },
};

export const DIALECTS: readonly DialectCase[] = [
  { name: "sqlite" },
  { name: "postgres", missing: services.missing.postgres },
  { name: "mysql", missing: services.missing.mysql },
];

/** Why this dialect's or service's server is not available, or undefined. */
export function missing(what: DialectCase | DialectName | ServiceName): string | undefined {
  const name = typeof what === "string" ? what : what.name;
  return name === "sqlite" ? undefined : services.missing[name];
}

const announced = new Set<string>();

/** `describe.skipIf`'s argument: true (and the reason on stderr, once) when the server is missing and skipping is allowed. */
export function skipped(what: DialectCase | DialectName | ServiceName): boolean {
  const reason = missing(what);
  if (!reason || STRICT) return false;
  const name = typeof what === "string" ? what : what.name;
  if (!announced.has(name)) {
    announced.add(name);
    process.stderr.write(`\n*** ${name} tests skipped: ${reason} ***\n\n`);
  }
  return true;
}

/** `it`'s first argument: skip (with the reason) when the server is missing and skipping is allowed. */
export function needsService(
  ctx: { skip: (note?: string) => void },
  what: DialectCase | DialectName | ServiceName,
): void {
  if (skipped(what)) ctx.skip(missing(what));
}

/** The run's shared server; throws why it is missing. */
export function service(name: ServiceName): ServiceSpec {
  const spec = services.servers[name];
  if (spec) return spec;
  const reason = services.missing[name] ?? `${LABELS[name]} was not started`;
  throw new Error(STRICT ? `${reason}; TASKLEDGER_TEST_STRICT=1 forbids skipping the ${name} tests` : reason);
}

const created: { spec: ServiceSpec; name: string }[] = [];

/**
 * A URL to a new, empty database: `sqlite:<file>`, `postgres://postgres@127.0.0.1:P/tl_…`,
 * `mysql://taskledger:taskledger@127.0.0.1:P/tl_…`. On the run's shared server, or on `server`
 * (one from `privateServer`). Throws why when the server is missing.
 */
export async function freshDatabaseUrl(dialect: DialectName, server?: ServiceSpec): Promise<string> {
  if (dialect === "sqlite") return tempDatabase().url;
  const spec = server ?? service(dialect);
  const name = `tl_${randomBytes(6).toString("hex")}`;
  await sql(spec.url, dialect === "postgres" ? `CREATE DATABASE "${name}"` : `CREATE DATABASE \`${name}\``);
  created.push({ spec, name });
  return `${spec.url}/${name}`;
}

/** A key prefix no other test uses (no `:`, BullMQ adds its own), and the Redis URL. Throws why when Redis is missing. */
export function freshRedisPrefix(server?: ServiceSpec): { url: string; prefix: string } {
  const spec = server ?? service("redis");
  return { url: spec.url, prefix: `tl-${randomBytes(6).toString("hex")}` };
}

// The databases this file created go when it ends (after its own afterAll hooks); a stopped
// server keeps them, and the whole server folder goes at the end of the run anyway.
afterAll(async () => {
  await Promise.all(
    created
      .splice(0)
      .map(({ spec, name }) =>
        sql(
          spec.url,
          spec.name === "postgres"
            ? `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`
            : `SET SESSION lock_wait_timeout = 5; DROP DATABASE IF EXISTS \`${name}\``,
        ).catch(() => undefined),
      ),
  );
});

/**
 * Stop a server by its PID (its data stays), and start it again on the same port. `name` is the
 * run's shared server: every test file running at the same time sees it go. A fault test that
 * stops a server should stop its own: `privateServer`.
 */
export function stopService(server: ServiceName | ServiceSpec, timeoutMs?: number): Promise<void> {
  return stopServer(typeof server === "string" ? service(server) : server, timeoutMs);
}

export function startService(server: ServiceName | ServiceSpec): Promise<void> {
  return startServer(typeof server === "string" ? service(server) : server);
}

export async function restartService(server: ServiceName | ServiceSpec): Promise<void> {
  await stopService(server);
  await startService(server);
}

/**
 * A server of this file's own (new folder, free port; ~0.1 s for Redis, ~1 s for PostgreSQL or
 * MariaDB), stopped by the run's teardown, or earlier by `removeServer`. Throws why when its
 * binaries are missing.
 */
export async function privateServer(name: ServiceName): Promise<ServiceSpec> {
  const reason = missingBinary(name) ?? (services.root ? undefined : services.missing[name]);
  if (reason) throw new Error(reason);
  return createServer(name, services.root);
}

export { removeServer };
