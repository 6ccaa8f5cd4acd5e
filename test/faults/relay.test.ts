import { Redis } from "ioredis";
import { sql } from "kysely";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Taskledger } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { createRelay, GRACE_MS, relay } from "../../src/maintenance/relay.js";
import {
  freshDatabaseUrl,
  freshRedisPrefix,
  privateServer,
  removeServer,
  restartService,
  skipped,
} from "../helpers/dialects.js";
import type { ServiceSpec } from "../helpers/services.js";

/**
 * The relay on a server ledger with the bullmq engine on Redis: a deep pass hands every waiting
 * task, a recent pass only those written in its window, and only the lease holder relays. The
 * sizes show what a sweep costs with a backlog (printed; not asserted, the machine is shared).
 */
const WAITING = Number(process.env.TL_RELAY_WAITING ?? 10_000);
const work = defineTask<{ ms: number }>({ name: "work", run: () => {} });

const opened: Taskledger[] = [];
const redisServers: ServiceSpec[] = [];
afterEach(async () => {
  for (const tl of opened.splice(0)) await tl.close();
});
afterAll(async () => {
  for (const spec of redisServers.splice(0)) await removeServer(spec);
});

for (const dialect of ["postgres", "mysql"] as const) {
  describe.skipIf(skipped(dialect) || skipped("redis"))(`the relay, ledger on ${dialect}`, () => {
    it(`hands a ${WAITING}-task backlog once (deep), then only rows written in its window`, async () => {
      const database = await freshDatabaseUrl(dialect);
      const { url, prefix } = freshRedisPrefix();
      let now = Date.now();
      const clock = { now: () => now };
      const tl = createTaskledger({ database, redis: { url, prefix }, tasks: [work], clock });
      opened.push(tl);
      await tl.migrate();
      const rt = runtimeOf(tl);
      for (let i = 0; i < WAITING; i += 1_000) {
        await tl.tasks.enqueueMany(
          Array.from({ length: Math.min(1_000, WAITING - i) }, () => ({
            task: work,
            payload: { ms: 0 },
            options: { description: "backlog" },
          })),
        );
      }
      // Written a while ago: a recent pass does not hand them again.
      now += GRACE_MS + 1_000;
      const leader = createRelay(rt, "leader");
      const other = createRelay(rt, "other");

      const timed = async <T>(work: () => Promise<T>) => {
        const started = performance.now();
        const value = await work();
        return { value, ms: Math.round(performance.now() - started) };
      };
      const everything = await timed(() => relay(rt));
      const deep = await timed(() => leader.pass());
      expect(deep.value).toEqual({ kind: "deep", delivered: WAITING });
      // The lease is held: another process's pass does nothing.
      expect(await other.pass()).toEqual({ kind: "none", delivered: 0 });

      // A sweep later: nothing was written since, so nothing is handed.
      now += 1_000;
      const idle = await timed(() => leader.pass());
      expect(idle.value).toEqual({ kind: "recent", delivered: 0 });
      now += GRACE_MS;
      const quiet = await timed(() => leader.pass());
      expect(quiet.value).toEqual({ kind: "recent", delivered: 0 });

      // Rows written now are handed once, a grace later; a waiting row not written is not.
      const fresh = await tl.tasks.enqueue(work, { ms: 0 }, { description: "new" });
      now += 1_000;
      expect(await leader.pass()).toEqual({ kind: "recent", delivered: 0 });
      now += GRACE_MS;
      expect(await leader.pass()).toEqual({ kind: "recent", delivered: 1 });
      now += GRACE_MS;
      expect(await leader.pass()).toEqual({ kind: "recent", delivered: 0 });

      // What Redis may have lost unnoticed is handed again on schedule.
      now += rt.settings.reconcileIntervalMs;
      expect((await leader.pass()).kind).toBe("deep");

      // The leader stops: the other takes over at once, with a deep pass.
      await leader.stop();
      expect(await other.pass()).toMatchObject({ kind: "deep", delivered: WAITING + 1 });
      await other.stop();

      // The recent pass's read: no index has updated_at, so it walks the waiting rows (tasks_status_id
      // on PostgreSQL, the primary key on MariaDB) — in the database, without a round trip per row.
      const explain = await sql
        .raw(
          `explain select id from tasks where status in ('queued','reserved') and updated_at >= ${now} and updated_at < ${now + 1} and id > 0 order by id limit 1000`,
        )
        .execute(rt.db);
      process.stderr.write(
        `relay on ${dialect}, ${WAITING} waiting: every row ${everything.ms} ms; deep pass ${deep.ms} ms; ` +
          `recent pass with nothing new ${idle.ms} ms, ${quiet.ms} ms (task ${fresh.id})\n` +
          `${JSON.stringify(explain.rows)}\n`,
      );
    });
  });
}

describe.skipIf(skipped("postgres") || skipped("redis"))("the relay and a restarted Redis", () => {
  it("a new run_id makes the next pass deep", async () => {
    const server = await privateServer("redis");
    redisServers.push(server);
    const database = await freshDatabaseUrl("postgres");
    const tl = createTaskledger({ database, redis: { url: server.url }, tasks: [work] });
    opened.push(tl);
    await tl.migrate();
    const rt = runtimeOf(tl);
    await tl.tasks.enqueue(work, { ms: 0 }, { description: "waits" });
    const relayer = createRelay(rt, "r");
    expect((await relayer.pass()).kind).toBe("deep");
    expect((await relayer.pass()).kind).toBe("recent");
    const before = await rt.engine.generation!();
    const client = new Redis(server.url);
    await client.flushall();
    client.disconnect();
    expect(await rt.engine.generation!()).toBe(before); // same run: only the schedule finds it
    await restartService(server);
    const after = await (async () => {
      for (;;) {
        try {
          return await rt.engine.generation!();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    })();
    expect(after).not.toBe(before);
    expect(await relayer.pass()).toEqual({ kind: "deep", delivered: 1 });
    await relayer.stop();
  });
});
