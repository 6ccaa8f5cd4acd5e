import { execFile, spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * Real Redis, PostgreSQL 15 and MariaDB 10.11 servers for the test run, as plain processes (no
 * systemd): data under one temp folder (`<tmpdir>/taskledger-services-XXXXXX`), loopback only, a
 * free port each, stopped by PID. `global-setup.ts` starts one of each per run and hands their
 * specs to the test files (`inject("services")`); `dialects.ts` is the test files' side.
 *
 * Every server's PID goes to `<root>/pids` whoever started it (global setup, or a test process
 * restarting a server), so the teardown stops them all. A PID is only ever signalled while its
 * process's working directory is inside that root (no stray kill after a PID is reused). A run
 * that died without its teardown is cleaned up by the next run (its `owner` PID is gone).
 *
 * `TASKLEDGER_TEST_SERVICES=redis,postgres` (or `none`) starts only those; the others are missing.
 *
 * Durability is relaxed where only a machine crash could tell (PostgreSQL `fsync=off`, InnoDB
 * `flush_log_at_trx_commit=2`): a killed server process loses nothing committed.
 */

/** `mysql` is served by MariaDB (Debian 12 has no MySQL server). */
export type ServiceName = "redis" | "postgres" | "mysql";
export const SERVICE_NAMES: readonly ServiceName[] = ["redis", "postgres", "mysql"];

/** One server: everything needed to stop it and start it again, from any process. */
export interface ServiceSpec {
  readonly name: ServiceName;
  /** The services folder of the run (the PID registry). */
  readonly root: string;
  /** This server's folder: data, log, pid file. */
  readonly dir: string;
  readonly port: number;
  /** Base URL without a database: `redis://127.0.0.1:P`, `postgres://postgres@127.0.0.1:P`, `mysql://taskledger:taskledger@127.0.0.1:P`. */
  readonly url: string;
}

/** What global setup provides to the test files as `inject("services")`. */
export interface ServicesContext {
  readonly root: string;
  readonly servers: Partial<Record<ServiceName, ServiceSpec>>;
  /** Why a service is not available: binary missing (and the package to install), or its start failed. */
  readonly missing: Partial<Record<ServiceName, string>>;
}

declare module "vitest" {
  export interface ProvidedContext {
    services: ServicesContext;
  }
}

export const LABELS: Record<ServiceName, string> = {
  redis: "Redis",
  postgres: "PostgreSQL 15",
  mysql: "MariaDB (mysql)",
};

const PG_BIN = "/usr/lib/postgresql/15/bin";
const BIN = {
  redis: "/usr/bin/redis-server",
  initdb: `${PG_BIN}/initdb`,
  pgCtl: `${PG_BIN}/pg_ctl`,
  postgres: `${PG_BIN}/postgres`,
  psql: `${PG_BIN}/psql`,
  mariadbd: "/usr/sbin/mariadbd",
  installDb: "/usr/bin/mariadb-install-db",
  mariadb: "/usr/bin/mariadb",
};
const REQUIRED: Record<ServiceName, { paths: string[]; pkg: string; user?: string }> = {
  redis: { paths: [BIN.redis], pkg: "redis-server" },
  postgres: { paths: [BIN.initdb, BIN.pgCtl, BIN.postgres, BIN.psql], pkg: "postgresql", user: "postgres" },
  mysql: { paths: [BIN.mariadbd, BIN.installDb, BIN.mariadb], pkg: "mariadb-server", user: "mysql" },
};

export const MYSQL_USER = "taskledger";
export const MYSQL_PASSWORD = "taskledger";
const READY_TIMEOUT_MS = 30_000;
const ROOT_PREFIX = "taskledger-services-";
const IS_ROOT = process.getuid?.() === 0;
const HAS_PROC = existsSync("/proc/self/stat");

/** Why `name` cannot run on this machine, or undefined. */
export function missingBinary(name: ServiceName): string | undefined {
  const { paths, pkg, user } = REQUIRED[name];
  const absent = paths.find((path) => !existsSync(path));
  if (absent) return `${LABELS[name]} not found: no ${absent} (apt-get install ${pkg})`;
  if (user && IS_ROOT && !systemUser(user)) {
    return `${LABELS[name]}: no system user "${user}" to run it as (apt-get install ${pkg})`;
  }
  return undefined;
}

/** Start every service whose binaries exist, in parallel (global setup). */
export async function startServices(): Promise<ServicesContext> {
  cleanStaleRoots();
  const root = mkdtempSync(join(tmpdir(), ROOT_PREFIX));
  chmodSync(root, 0o755); // the postgres and mysql users reach their folders through it
  writeFileSync(join(root, "owner"), `${process.pid}\n`);
  writeFileSync(join(root, "pids"), "");
  const wanted = process.env.TASKLEDGER_TEST_SERVICES?.split(",").map((s) => s.trim());
  const servers: Partial<Record<ServiceName, ServiceSpec>> = {};
  const missing: Partial<Record<ServiceName, string>> = {};
  await Promise.all(
    SERVICE_NAMES.map(async (name) => {
      if (wanted && !wanted.includes(name)) {
        missing[name] = `${LABELS[name]} not started: TASKLEDGER_TEST_SERVICES=${wanted.join(",")}`;
        return;
      }
      const reason = missingBinary(name);
      if (reason) {
        missing[name] = reason;
        return;
      }
      try {
        servers[name] = await createServer(name, root);
      } catch (error) {
        missing[name] = `${LABELS[name]} failed to start: ${(error as Error).message}`;
      }
    }),
  );
  return { root, servers, missing };
}

/** Stop every server ever started under `root` (whoever started it), then remove the folder. */
export async function stopServices(root: string, timeoutMs = 5_000): Promise<void> {
  const stops = await Promise.allSettled(
    registered(root).map(({ pid, name }) => (owned(pid, root) ? stopPid(pid, name, timeoutMs) : undefined)),
  );
  rmSync(root, { recursive: true, force: true });
  const failed = stops.find((stop) => stop.status === "rejected");
  if (failed) throw failed.reason;
}

/** A new server of this kind under `root`: its own folder, a free port (retried on a collision), started and ready. */
export async function createServer(name: ServiceName, root: string): Promise<ServiceSpec> {
  const reason = missingBinary(name);
  if (reason) throw new Error(reason);
  const dir = mkdtempSync(join(root, `${name}-`));
  chmodSync(dir, 0o755);
  const ids = serviceUser(name);
  if (ids) chownSync(dir, ids.uid, ids.gid);
  if (name === "mysql") {
    // Its own temp folder: MariaDB keeps temporary tables (information_schema reads among them)
    // as files there, and a shared /tmp may be cleaned under it.
    mkdirSync(join(dir, "tmp"));
    if (ids) chownSync(join(dir, "tmp"), ids.uid, ids.gid);
  }
  if (name === "postgres") await initPostgres(dir);
  if (name === "mysql") await initMariadb(dir);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const spec: ServiceSpec = { name, root, dir, port, url: baseUrl(name, port) };
    try {
      await startServer(spec);
      return spec;
    } catch (error) {
      if (!(error instanceof PortInUse) || attempt === 5) throw error;
    }
  }
}

/** Start a server that exists (data kept) on its own port, and wait until it answers. No-op when it runs. */
export async function startServer(spec: ServiceSpec): Promise<void> {
  const running = serverPid(spec);
  if (running !== undefined) return;
  if (spec.name === "redis") return startRedis(spec);
  if (spec.name === "postgres") return startPostgres(spec);
  return startMariadb(spec);
}

/**
 * Stop a server by its PID: SIGTERM (PostgreSQL: SIGINT, its fast shutdown), then SIGKILL to its
 * process group after `timeoutMs`. Its data stays, for `startServer`. No-op when it is not running.
 */
export async function stopServer(spec: ServiceSpec, timeoutMs = 10_000): Promise<void> {
  const pid = serverPid(spec);
  if (pid !== undefined) await stopPid(pid, spec.name, timeoutMs);
  rmSync(join(spec.dir, "server.pid"), { force: true });
}

/** Stop a server and delete its folder. */
export async function removeServer(spec: ServiceSpec): Promise<void> {
  await stopServer(spec, 2_000);
  rmSync(spec.dir, { recursive: true, force: true });
}

/** The running server's PID, or undefined when it is not running. */
export function serverPid(spec: ServiceSpec): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(spec.dir, "server.pid"), "utf8"), 10);
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && alive(pid) && owned(pid, spec.root) ? pid : undefined;
}

/**
 * Run one SQL statement against a `postgres://` or `mysql://` URL (with its database) through the
 * `psql` / `mariadb` clients; resolves to the rows as tab- (mysql) or `|`- (postgres) separated lines.
 */
export async function sql(url: string, statement: string): Promise<string> {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.slice(1));
  const options = { timeout: 30_000, env: { ...process.env, PGCONNECT_TIMEOUT: "10" } };
  try {
    if (u.protocol === "postgres:" || u.protocol === "postgresql:") {
      const args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", u.hostname, "-p", u.port, "-U"];
      args.push(decodeURIComponent(u.username), "-d", database || "postgres", "-c", statement);
      const { stdout } = await execFileAsync(BIN.psql, args, {
        ...options,
        env: { ...options.env, PGPASSWORD: decodeURIComponent(u.password) },
      });
      return stdout.trim();
    }
    if (u.protocol === "mysql:") {
      const args = ["--no-defaults", "--protocol=TCP", "-h", u.hostname, "-P", u.port, "-u"];
      args.push(decodeURIComponent(u.username), "--batch", "--skip-column-names", "-e", statement);
      if (database) args.push(database);
      const { stdout } = await execFileAsync(BIN.mariadb, args, {
        ...options,
        env: { ...options.env, MYSQL_PWD: decodeURIComponent(u.password) },
      });
      return stdout.trim();
    }
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`${statement} on ${url}: ${stderr?.trim() || message}`);
  }
  throw new Error(`sql(): not a postgres:// or mysql:// URL: ${url}`);
}

// ---------------------------------------------------------------------------------------------
// Each service

function baseUrl(name: ServiceName, port: number): string {
  if (name === "redis") return `redis://127.0.0.1:${port}`;
  if (name === "postgres") return `postgres://postgres@127.0.0.1:${port}`;
  return `mysql://${MYSQL_USER}:${MYSQL_PASSWORD}@127.0.0.1:${port}`;
}

function startRedis(spec: ServiceSpec): Promise<void> {
  const log = join(spec.dir, "redis.log");
  const args = ["--bind", "127.0.0.1", "--port", String(spec.port), "--save", "", "--appendonly", "no"];
  args.push("--maxmemory-policy", "noeviction", "--dir", spec.dir, "--daemonize", "no", "--logfile", log);
  return launch(spec, BIN.redis, args, log, () =>
    probe(spec.port, "PING\r\n", (reply) => reply.toString().startsWith("+PONG")),
  );
}

async function initPostgres(dir: string): Promise<void> {
  const data = join(dir, "data");
  await run(
    BIN.initdb,
    [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-locale",
      "--no-sync",
      "--no-instructions",
    ],
    { as: "postgres", cwd: dir },
  );
  appendFileSync(
    join(data, "postgresql.conf"),
    [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      "fsync = off",
      "max_connections = 200",
      "",
    ].join("\n"),
  );
}

async function startPostgres(spec: ServiceSpec): Promise<void> {
  const data = join(spec.dir, "data");
  const log = join(spec.dir, "postgres.log");
  const from = size(log);
  try {
    // pg_ctl returns once the postmaster is ready (-w); the postmaster leads its own session.
    await run(BIN.pgCtl, ["start", "-D", data, "-l", log, "-w", "-t", "60", "-o", `-p ${spec.port}`], {
      as: "postgres",
      cwd: spec.dir,
    });
  } catch (error) {
    throw startFailure(spec, log, from, (error as Error).message);
  }
  const pid = Number.parseInt(readFileSync(join(data, "postmaster.pid"), "utf8"), 10);
  record(spec, pid);
}

async function initMariadb(dir: string): Promise<void> {
  const init = join(dir, "init.sql");
  writeFileSync(
    init,
    "FLUSH PRIVILEGES;\n" + // bootstrap runs without the grant tables: load them for CREATE USER
      `CREATE USER '${MYSQL_USER}'@'127.0.0.1' IDENTIFIED BY '${MYSQL_PASSWORD}';\n` +
      `GRANT ALL PRIVILEGES ON *.* TO '${MYSQL_USER}'@'127.0.0.1' WITH GRANT OPTION;\n`,
  );
  await run(
    BIN.installDb,
    ["--no-defaults", ...(IS_ROOT ? ["--user=mysql"] : []), `--datadir=${join(dir, "data")}`].concat([
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--skip-name-resolve",
      `--extra-file=${init}`,
    ]),
    { cwd: dir },
  );
}

function startMariadb(spec: ServiceSpec): Promise<void> {
  const log = join(spec.dir, "error.log");
  const args = ["--no-defaults", ...(IS_ROOT ? ["--user=mysql"] : []), `--datadir=${join(spec.dir, "data")}`];
  args.push(
    "--bind-address=127.0.0.1",
    `--port=${spec.port}`,
    `--socket=${join(spec.dir, "mysqld.sock")}`,
    `--pid-file=${join(spec.dir, "mariadbd.pid")}`,
    `--log-error=${log}`,
    `--tmpdir=${join(spec.dir, "tmp")}`,
    "--skip-name-resolve",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--max-connections=500",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-buffer-pool-dump-at-shutdown=0",
    "--innodb-buffer-pool-load-at-startup=0",
  );
  // Ready when it sends its handshake (protocol version 10) on TCP.
  return launch(spec, BIN.mariadbd, args, log, () =>
    probe(spec.port, "", (reply) => reply.length > 4 && reply[4] === 0x0a),
  );
}

// ---------------------------------------------------------------------------------------------
// Processes

class PortInUse extends Error {}

/**
 * Spawn a server detached (its own process group, not waited for by whoever started it), record
 * its PID, and poll `check` until it answers; fail early, with its log's new lines, if it exits.
 */
async function launch(
  spec: ServiceSpec,
  file: string,
  args: string[],
  log: string,
  check: () => Promise<boolean>,
): Promise<void> {
  const from = size(log);
  const child = spawn(file, args, { cwd: spec.dir, detached: true, stdio: "ignore" });
  let exited: string | undefined;
  let failed: Error | undefined;
  child.once("exit", (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  child.once("error", (error) => {
    failed = error;
  });
  child.unref();
  if (child.pid !== undefined) record(spec, child.pid);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (failed) throw new Error(`could not start ${LABELS[spec.name]} (${file}): ${failed.message}`);
    if (child.pid !== undefined && (await check())) return;
    if (exited) throw startFailure(spec, log, from, exited);
    if (Date.now() > deadline) {
      await stopServer(spec, 2_000);
      throw startFailure(spec, log, from, `not answering after ${READY_TIMEOUT_MS} ms`);
    }
    await sleep(20);
  }
}

function startFailure(spec: ServiceSpec, log: string, from: number, what: string): Error {
  const lines = readFrom(log, from).trim().split("\n").slice(-12).join("\n");
  const Type = /Address already in use|error: 98/i.test(lines) ? PortInUse : Error;
  return new Type(`${LABELS[spec.name]} on port ${spec.port} ${what}; ${log}:\n${lines}`);
}

function record(spec: ServiceSpec, pid: number): void {
  writeFileSync(join(spec.dir, "server.pid"), `${pid}\n`);
  appendFileSync(join(spec.root, "pids"), `${pid} ${spec.name}\n`);
}

function registered(root: string): { pid: number; name: ServiceName }[] {
  let text = "";
  try {
    text = readFileSync(join(root, "pids"), "utf8");
  } catch {
    return [];
  }
  const seen = new Map<number, ServiceName>();
  for (const line of text.split("\n")) {
    const [pid, name] = line.split(" ");
    if (pid && name) seen.set(Number(pid), name as ServiceName);
  }
  return [...seen].map(([pid, name]) => ({ pid, name }));
}

async function stopPid(pid: number, name: ServiceName, timeoutMs: number): Promise<void> {
  signal(pid, name === "postgres" ? "SIGINT" : "SIGTERM");
  if (await exited(pid, timeoutMs)) return;
  signal(-pid, "SIGKILL"); // its process group: a server leads its own (spawned detached; pg_ctl's setsid)
  signal(pid, "SIGKILL");
  if (!(await exited(pid, 5_000))) throw new Error(`${LABELS[name]} (PID ${pid}) survived SIGKILL`);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** A zombie counts as gone: PID 1 here reaps orphans late (the servers outlive whoever started them). */
function alive(pid: number): boolean {
  if (!HAS_PROC) {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Is `pid` one of ours: its working directory (a server's data folder) is inside `root`. */
function owned(pid: number, root: string): boolean {
  if (!HAS_PROC) return true;
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    const real = realpathSync(root);
    return cwd === real || cwd.startsWith(`${real}/`);
  } catch {
    return false;
  }
}

/** Folders of earlier runs whose vitest died before its teardown: stop their servers, remove them. */
function cleanStaleRoots(): void {
  const base = tmpdir();
  for (const entry of readdirSync(base)) {
    if (!entry.startsWith(ROOT_PREFIX)) continue;
    const root = join(base, entry);
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(readFileSync(join(root, "owner"), "utf8"), 10);
    } catch {
      // none yet
    }
    if (Number.isInteger(owner) ? alive(owner) : young(root)) continue;
    for (const { pid } of registered(root)) {
      if (owned(pid, root)) {
        signal(-pid, "SIGKILL");
        signal(pid, "SIGKILL");
      }
    }
    rmSync(root, { recursive: true, force: true });
  }
}

/** No owner yet: a run creating its folder right now, or one that died doing it (old). */
function young(root: string): boolean {
  return Date.now() - (statSync(root, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 10 * 60_000;
}

const execFileAsync = promisify(execFile);

async function run(file: string, args: string[], options: { as?: ServiceName; cwd: string }): Promise<void> {
  const ids = options.as ? serviceUser(options.as) : undefined;
  try {
    await execFileAsync(file, args, { cwd: options.cwd, timeout: 120_000, ...(ids ?? {}) });
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${file} failed: ${(stderr || stdout || message).trim().split("\n").slice(-8).join("\n")}`,
    );
  }
}

/** The uid/gid to run `name` as: its system user when we are root, else ourselves (undefined). */
function serviceUser(name: ServiceName): { uid: number; gid: number } | undefined {
  const user = REQUIRED[name].user;
  return user && IS_ROOT ? systemUser(user) : undefined;
}

function systemUser(user: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , uid, gid] = line.split(":");
      if (name === user) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // no /etc/passwd
  }
  return undefined;
}

/** A port free right now on 127.0.0.1 (bind port 0, close); a collision at start is retried. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Connect, optionally send `request`, and test the first bytes that come back. */
function probe(port: number, request: string, check: (reply: Buffer) => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("connect", () => {
      if (request) socket.write(request);
    });
    socket.once("data", (reply) => done(check(reply)));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

function size(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    const fd = openSync(file, "r");
    try {
      const length = Math.max(0, size(file) - offset);
      const buffer = Buffer.alloc(Math.min(length, 64 * 1024));
      readSync(fd, buffer, 0, buffer.length, Math.max(offset, offset + length - buffer.length));
      return buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
