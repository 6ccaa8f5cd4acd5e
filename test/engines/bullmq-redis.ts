import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/**
 * The Redis the bullmq engine's tests run on: `TASKLEDGER_TEST_REDIS_URL` (a redis-server you
 * started), until the shared services setup hands one to every test file. Without it those tests
 * skip, saying why — unless TASKLEDGER_TEST_STRICT=1 (CI), where they fail.
 */
export function testRedisUrl(): string | undefined {
  return process.env.TASKLEDGER_TEST_REDIS_URL || undefined;
}

const MISSING =
  "no Redis for the bullmq engine: set TASKLEDGER_TEST_REDIS_URL=redis://127.0.0.1:PORT (a redis-server started with --maxmemory-policy noeviction)";

if (!testRedisUrl() && process.env.TASKLEDGER_TEST_STRICT !== "1")
  process.stderr.write(`\n*** bullmq engine tests skipped: ${MISSING} ***\n\n`);

/** Call first in a test (or a `beforeEach`): the Redis URL, or the test is skipped with the reason. */
export function needsRedis(ctx: { skip: (note?: string) => void }): string {
  const url = testRedisUrl();
  if (url) return url;
  if (process.env.TASKLEDGER_TEST_STRICT === "1")
    throw new Error(`${MISSING}; TASKLEDGER_TEST_STRICT=1 forbids skipping the bullmq engine's tests`);
  ctx.skip(MISSING);
  throw new Error("unreachable: skipped");
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
