import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import {
  freshDatabaseUrl,
  freshRedisPrefix,
  privateServer,
  removeServer,
  service,
  skipped,
  startService,
  stopService,
} from "./helpers/dialects.js";
import { type ServiceSpec, serverPid, sql } from "./helpers/services.js";

/**
 * The servers global setup starts for the run (test/helpers/services.ts) really answer, hand out
 * a fresh database per call, and survive a stop and start by PID on their port. The restarts use
 * servers of this file's own, so files running beside it never see the shared ones go.
 */

function redisClient(url: string): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

async function answers(url: string): Promise<boolean> {
  const redis = redisClient(url);
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function connects(url: string): Promise<boolean> {
  return sql(url, "select 1").then(
    () => true,
    () => false,
  );
}

/** Stop by PID (the process is gone, the port refuses), start again: a new PID on the same port. */
async function bounce(server: ServiceSpec, reachable: () => Promise<boolean>): Promise<void> {
  const before = serverPid(server);
  expect(before).toBeTypeOf("number");
  await stopService(server);
  expect(serverPid(server)).toBeUndefined();
  expect(await reachable()).toBe(false);
  await startService(server);
  expect(serverPid(server)).not.toBe(before);
  expect(await reachable()).toBe(true);
}

describe.skipIf(skipped("redis"))("redis", () => {
  it("answers PING on loopback, keeps nothing on disk, never evicts; a fresh prefix per call", async () => {
    const { url, prefix } = freshRedisPrefix();
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(freshRedisPrefix().prefix).not.toBe(prefix);
    expect(prefix).not.toContain(":");
    const redis = redisClient(url);
    try {
      await redis.connect();
      expect(await redis.ping()).toBe("PONG");
      expect(await redis.config("GET", "save")).toEqual(["save", ""]);
      expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "no"]);
      expect(await redis.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect(await redis.config("GET", "bind")).toEqual(["bind", "127.0.0.1"]);
    } finally {
      redis.disconnect();
    }
  });

  it("stops by PID and comes back on the same port", async () => {
    const server = await privateServer("redis");
    try {
      await bounce(server, () => answers(server.url));
    } finally {
      await removeServer(server);
    }
  });
});

describe.skipIf(skipped("postgres"))("postgres", () => {
  it("answers select 1; each call hands out a new, empty database", async () => {
    expect(await sql(service("postgres").url, "select 1")).toBe("1");
    const [a, b] = await Promise.all([freshDatabaseUrl("postgres"), freshDatabaseUrl("postgres")]);
    expect(a).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/tl_[0-9a-f]{12}$/);
    expect(b).not.toBe(a);
    const tables = "select count(*) from information_schema.tables where table_schema = 'public'";
    await sql(a!, "create table t (id int)");
    expect(await sql(a!, tables)).toBe("1");
    expect(await sql(b!, tables)).toBe("0");
    expect(await sql(a!, "show server_version")).toMatch(/^15\./);
  });

  it("keeps its data across a stop and start by PID on the same port", async () => {
    const server = await privateServer("postgres");
    try {
      const url = await freshDatabaseUrl("postgres", server);
      await sql(url, "create table t (v text); insert into t values ('kept')");
      await bounce(server, () => connects(url));
      expect(await sql(url, "select v from t")).toBe("kept");
    } finally {
      await removeServer(server);
    }
  });
});

describe.skipIf(skipped("mysql"))("mysql (MariaDB)", () => {
  it("answers select 1 over TCP with the URL's user and password; each call hands out a new, empty database", async () => {
    expect(await sql(service("mysql").url, "select 1")).toBe("1");
    const [a, b] = await Promise.all([freshDatabaseUrl("mysql"), freshDatabaseUrl("mysql")]);
    expect(a).toMatch(/^mysql:\/\/taskledger:taskledger@127\.0\.0\.1:\d+\/tl_[0-9a-f]{12}$/);
    expect(b).not.toBe(a);
    const tables = "select count(*) from information_schema.tables where table_schema = database()";
    await sql(a!, "create table t (id int)");
    expect(await sql(a!, tables)).toBe("1");
    expect(await sql(b!, tables)).toBe("0");
    expect(await sql(a!, "select @@version, @@character_set_database")).toMatch(/^10\.11\.\S+\tutf8mb4$/);
  });

  it("keeps its data across a stop and start by PID on the same port", async () => {
    const server = await privateServer("mysql");
    try {
      const url = await freshDatabaseUrl("mysql", server);
      await sql(url, "create table t (v text); insert into t values ('kept')");
      await bounce(server, () => connects(url));
      expect(await sql(url, "select v from t")).toBe("kept");
    } finally {
      await removeServer(server);
    }
  });
});
