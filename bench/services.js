// The servers a benchmark needs — Redis, PostgreSQL 15, MariaDB 10.11 (for `mysql://`) — as
// plain processes of this benchmark: data in a temp folder, loopback only, a free port each,
// stopped by PID when the benchmark ends (also on an error or Ctrl-C). A server given by URL
// (TASKLEDGER_BENCH_REDIS_URL, TASKLEDGER_BENCH_POSTGRES_URL, TASKLEDGER_BENCH_MYSQL_URL) is used
// instead; on a SQL server the benchmark then works in databases of its own (`tl_bench_…`), dropped
// at the end.
//
// Unlike the test servers (test/helpers/services.ts), these keep production durability: every
// commit is flushed to disk (PostgreSQL fsync=on and synchronous_commit=on, its defaults; InnoDB
// innodb_flush_log_at_trx_commit=1), so commit rates here are what a real server would do on this
// disk. Memory is sized as a server would be (`durability` says exactly what was set).
import { execFile, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { say, sleep } from "./lib.js";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const BINARIES = {
  redis: { paths: ["/usr/bin/redis-server"], pkg: "redis-server" },
  postgres: { paths: [`${PG_BIN}/initdb`, `${PG_BIN}/postgres`], pkg: "postgresql", user: "postgres" },
  mysql: {
    paths: ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"],
    pkg: "mariadb-server",
    user: "mysql",
  },
};
const GIVEN = {
  redis: "TASKLEDGER_BENCH_REDIS_URL",
  postgres: "TASKLEDGER_BENCH_POSTGRES_URL",
  mysql: "TASKLEDGER_BENCH_MYSQL_URL",
};
export const LABELS = { redis: "Redis", postgres: "PostgreSQL 15", mysql: "MariaDB (mysql)" };
const MYSQL_USER = "taskledger";
const MYSQL_PASSWORD = "taskledger";
const READY_TIMEOUT_MS = 60_000;
const IS_ROOT = process.getuid?.() === 0;
const execFileAsync = promisify(execFile);

/** Servers started by this process, stopped on exit whatever happens. */
const running = new Set();

process.once("exit", () => {
  // Last resort (an uncaught error, process.exit): kill what is left, then its folder.
  for (const server of running) {
    signal(-server.pid, "SIGKILL");
    signal(server.pid, "SIGKILL");
    rmSync(server.dir, { recursive: true, force: true });
  }
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    say(`${sig}: stopping the benchmark's servers`);
    void stopAll().finally(() => process.exit(130));
  });
}

/** Stop every server this process started (by PID), and remove their folders. */
export async function stopAll() {
  await Promise.all([...running].map((server) => server.stop()));
}

/**
 * A server for `name` ("redis" | "postgres" | "mysql"): `{ name, url, version, given, durability,
 * stop() }` where `url` is the server's base URL (no database), or `{ name, skipped }` saying
 * loudly why there is none (no binary, no system user to run it as, or it did not start).
 */
export async function startService(name) {
  const given = process.env[GIVEN[name]];
  if (given) {
    const url = new URL(given);
    if (name !== "redis") url.pathname = "";
    return {
      name,
      url: url.href.replace(/\/$/, ""),
      version: "given",
      given: true,
      durability: `as configured on the given server (${GIVEN[name]})`,
      stop: async () => {},
    };
  }
  const { paths, pkg, user } = BINARIES[name];
  const absent = paths.find((path) => !existsSync(path));
  if (absent)
    return {
      name,
      skipped: `${LABELS[name]} not installed: no ${absent} (apt-get install -y ${pkg}), and ${GIVEN[name]} is unset`,
    };
  const ids = user && IS_ROOT ? await systemUser(user) : undefined;
  if (user && IS_ROOT && !ids)
    return {
      name,
      skipped: `${LABELS[name]}: no system user "${user}" to run it as (apt-get install -y ${pkg})`,
    };
  const dir = mkdtempSync(join(tmpdir(), `taskledger-bench-${name}-`));
  chmodSync(dir, 0o755);
  if (ids) chownSync(dir, ids.uid, ids.gid);
  try {
    return await START[name](dir, ids);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { name, skipped: `${LABELS[name]} did not start: ${error.message}` };
  }
}

const START = {
  async redis(dir) {
    const port = await freePort();
    const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"];
    args.push("--maxmemory-policy", "noeviction", "--dir", dir, "--daemonize", "no");
    const server = await launch("redis", dir, "/usr/bin/redis-server", args, undefined, () =>
      probe(port, "PING\r\n", (reply) => reply.toString().startsWith("+PONG")),
    );
    const version = await output("/usr/bin/redis-server", ["--version"]);
    return {
      ...server,
      url: `redis://127.0.0.1:${port}`,
      version,
      durability: "no persistence (a queue's broker)",
    };
  },

  async postgres(dir, ids) {
    const data = join(dir, "data");
    await execFileAsync(
      `${PG_BIN}/initdb`,
      ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
      { cwd: dir, ...(ids ?? {}) },
    );
    const port = await freePort();
    // fsync and synchronous_commit are PostgreSQL's defaults, named here so nobody wonders.
    const settings = {
      listen_addresses: "127.0.0.1",
      port,
      unix_socket_directories: dir,
      fsync: "on",
      synchronous_commit: "on",
      shared_buffers: "512MB",
      max_wal_size: "4GB",
      max_connections: 100,
    };
    const args = ["-D", data, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
    const server = await launch("postgres", dir, `${PG_BIN}/postgres`, args, ids, () =>
      probe(port, PG_SSL_REQUEST, (reply) => reply.length === 1),
    );
    const version = await output(`${PG_BIN}/postgres`, ["--version"]);
    return {
      ...server,
      url: `postgres://postgres@127.0.0.1:${port}`,
      version,
      durability: "fsync=on synchronous_commit=on (shared_buffers=512MB max_wal_size=4GB)",
    };
  },

  async mysql(dir, ids) {
    const init = join(dir, "init.sql");
    writeFileSync(
      init,
      "FLUSH PRIVILEGES;\n" + // bootstrap runs without the grant tables: load them for CREATE USER
        `CREATE USER '${MYSQL_USER}'@'127.0.0.1' IDENTIFIED BY '${MYSQL_PASSWORD}';\n` +
        `GRANT ALL PRIVILEGES ON *.* TO '${MYSQL_USER}'@'127.0.0.1' WITH GRANT OPTION;\n`,
    );
    const data = join(dir, "data");
    const user = ids ? ["--user=mysql"] : [];
    await execFileAsync(
      "/usr/bin/mariadb-install-db",
      ["--no-defaults", ...user, `--datadir=${data}`, "--auth-root-authentication-method=normal"].concat([
        "--skip-test-db",
        "--skip-name-resolve",
        `--extra-file=${init}`,
      ]),
      { cwd: dir },
    );
    const port = await freePort();
    const args = [
      "--no-defaults",
      ...user,
      `--datadir=${data}`,
      "--bind-address=127.0.0.1",
      `--port=${port}`,
    ];
    args.push(
      `--socket=${join(dir, "mysqld.sock")}`,
      `--pid-file=${join(dir, "mariadbd.pid")}`,
      `--log-error=${join(dir, "error.log")}`,
      `--tmpdir=${dir}`,
      "--skip-name-resolve",
      "--character-set-server=utf8mb4",
      "--innodb-flush-log-at-trx-commit=1",
      "--innodb-buffer-pool-size=1G",
      "--innodb-log-file-size=1G",
      "--max-connections=200",
    );
    const server = await launch("mysql", dir, "/usr/sbin/mariadbd", args, undefined, () =>
      probe(port, "", (reply) => reply.length > 4 && reply[4] === 0x0a),
    );
    const version = await output("/usr/sbin/mariadbd", ["--version"]);
    return {
      ...server,
      url: `mysql://${MYSQL_USER}:${MYSQL_PASSWORD}@127.0.0.1:${port}`,
      version,
      durability: "innodb_flush_log_at_trx_commit=1 (innodb_buffer_pool_size=1G innodb_log_file_size=1G)",
    };
  },
};

/** PostgreSQL answers an SSLRequest with one byte (`N` or `S`) once it accepts connections. */
const PG_SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).toString("latin1");

/**
 * Spawn a server in its own process group (a Ctrl-C in the terminal reaches the benchmark, which
 * then stops it), its output to a log in its folder; wait until `ready` answers.
 */
async function launch(name, dir, file, args, ids, ready) {
  const log = join(dir, "server.log");
  const fd = openSync(log, "a");
  const child = spawn(file, args, { cwd: dir, detached: true, stdio: ["ignore", fd, fd], ...(ids ?? {}) });
  closeSync(fd);
  let exited;
  child.once("exit", (code, sig) => {
    exited = `exited with ${sig ?? code}`;
  });
  child.once("error", (error) => {
    exited = error.message;
  });
  const server = {
    name,
    dir,
    pid: child.pid,
    async stop() {
      running.delete(server);
      if (exited === undefined) {
        // PostgreSQL's fast shutdown is SIGINT; the others stop cleanly on SIGTERM.
        signal(child.pid, name === "postgres" ? "SIGINT" : "SIGTERM");
        const deadline = Date.now() + 20_000;
        while (exited === undefined && Date.now() < deadline) await sleep(20);
        if (exited === undefined) signal(-child.pid, "SIGKILL");
        while (exited === undefined) await sleep(20);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(server);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited !== undefined) {
      running.delete(server);
      throw new Error(`${file} ${exited}: ${tail(log)}`);
    }
    if (await ready()) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`${file} not answering after ${READY_TIMEOUT_MS} ms`);
    }
    await sleep(20);
  }
}

function tail(file) {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-8).join("\n");
  } catch {
    return "(no log)";
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function output(file, args) {
  return (await execFileAsync(file, args)).stdout.trim();
}

async function systemUser(user) {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === user) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Connect, send `request` (if any), and test the first bytes that come back. */
function probe(port, request, check) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("connect", () => {
      if (request) socket.write(Buffer.from(request, "latin1"));
    });
    socket.once("data", (reply) => done(check(reply)));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

const created = [];

/**
 * A new, empty database on a SQL server (`postgres` or `mysql` service): its URL. Dropped by
 * `dropDatabases` (a server this process started goes whole anyway).
 */
export async function freshDatabase(service, prefix = "tl_bench") {
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  await admin(
    service,
    service.name === "postgres" ? `create database "${name}"` : `create database \`${name}\``,
  );
  created.push({ service, name });
  return `${service.url}/${name}`;
}

export async function dropDatabases() {
  for (const { service, name } of created.splice(0)) {
    await admin(
      service,
      service.name === "postgres"
        ? `drop database if exists "${name}" with (force)`
        : `drop database if exists \`${name}\``,
    ).catch((error) => say(`could not drop ${name}: ${error.message}`));
  }
}

/** One statement on the server's default database, through the driver the ledger uses. */
async function admin(service, statement) {
  if (service.name === "postgres") {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: `${service.url}/postgres` });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
    return;
  }
  const mysql = await import("mysql2/promise");
  const connection = await mysql.createConnection({ uri: service.url });
  try {
    await connection.query(statement);
  } finally {
    await connection.end();
  }
}
