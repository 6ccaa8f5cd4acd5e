import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { missing, needsService, service } from "../helpers/dialects.js";

/**
 * The Redis the bullmq engine's tests run on: the run's shared one (test/helpers/services.ts), or
 * `TASKLEDGER_TEST_REDIS_URL`. Without either those tests skip, saying why — unless
 * TASKLEDGER_TEST_STRICT=1 (CI), where they fail.
 */
export function testRedisUrl(): string | undefined {
  if (process.env.TASKLEDGER_TEST_REDIS_URL) return process.env.TASKLEDGER_TEST_REDIS_URL;
  return missing("redis") ? undefined : service("redis").url;
}

/** Call first in a test (or a `beforeEach`): the Redis URL, or the test is skipped with the reason. */
export function needsRedis(ctx: { skip: (note?: string) => void }): string {
  const url = testRedisUrl();
  if (url) return url;
  needsService(ctx, "redis");
  return service("redis").url;
}

/** A key prefix no other test uses; `dropPrefixes` removes their keys afterwards. */
const prefixes: string[] = [];
export function testPrefix(): string {
  const prefix = `tltest-${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  return prefix;
}

export async function dropPrefixes(url = testRedisUrl()): Promise<void> {
  const used = prefixes.splice(0);
  if (!url || used.length === 0) return;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    for (const prefix of used) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
}
