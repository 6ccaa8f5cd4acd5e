import { describe, expect, it } from "vitest";
import { freshDatabaseUrl, freshRedisPrefix, missing, STRICT } from "../helpers/dialects.js";
import { tempDir } from "../helpers/index.js";
import { run, spawnCli, untilOutput } from "./cli.js";

/**
 * The three deployments of docs/scale-out.md, run as the docs say: the same commands, only the
 * environment differs. Two worker processes each; a task enqueued by a third process runs on one
 * of them and `enqueue --wait` follows it to its end; `status` sees both workers.
 */
interface Deployment {
  readonly name: string;
  readonly needs: readonly ("postgres" | "mysql" | "redis")[];
  env(): Promise<Record<string, string>>;
}

const DEPLOYMENTS: Deployment[] = [
  {
    name: "embedded: one SQLite file",
    needs: [],
    env: async () => ({ TASKLEDGER_DATABASE_URL: await freshDatabaseUrl("sqlite") }),
  },
  {
    name: "BullMQ on Redis, the ledger on PostgreSQL",
    needs: ["redis", "postgres"],
    env: async () => {
      const { url, prefix } = freshRedisPrefix();
      return {
        TASKLEDGER_DATABASE_URL: await freshDatabaseUrl("postgres"),
        TASKLEDGER_REDIS_URL: url,
        TASKLEDGER_REDIS_PREFIX: prefix,
      };
    },
  },
  {
    name: "BullMQ on Redis, the ledger on MySQL/MariaDB",
    needs: ["redis", "mysql"],
    env: async () => {
      const { url, prefix } = freshRedisPrefix();
      return {
        TASKLEDGER_DATABASE_URL: await freshDatabaseUrl("mysql"),
        TASKLEDGER_REDIS_URL: url,
        TASKLEDGER_REDIS_PREFIX: prefix,
      };
    },
  },
  {
    name: "PostgreSQL only: BullMQ's PostgreSQL backend in the ledger's database",
    needs: ["postgres"],
    env: async () => ({
      TASKLEDGER_DATABASE_URL: await freshDatabaseUrl("postgres"),
      TASKLEDGER_ENGINE: "bullmq",
    }),
  },
];

for (const deployment of DEPLOYMENTS) {
  const reason = deployment.needs.map((n) => missing(n)).find(Boolean);
  if (reason && !STRICT)
    process.stderr.write(`\n*** deployment "${deployment.name}" skipped: ${reason} ***\n\n`);
  describe.skipIf(Boolean(reason) && !STRICT)(deployment.name, () => {
    it("migrate, two workers, enqueue --wait from a third process, status", async () => {
      const env = await deployment.env();
      const cwd = tempDir();
      const options = { cwd, database: null, env };
      const migrated = await run(["migrate", "--json"], options);
      expect(migrated.stderr).toBe("");
      expect(JSON.parse(migrated.stdout)).toMatchObject({ ok: true });
      const workers = [spawnCli(["worker"], options), spawnCli(["worker", "--with-scheduler"], options)];
      for (const worker of workers) await untilOutput(worker, /taskledger worker .* — queues/, 30_000);
      const enqueued = await run(
        [
          "enqueue",
          "count_words",
          "--payload",
          JSON.stringify("to be or not to be"),
          "--description",
          "words",
          "--wait",
          "--json",
        ],
        options,
      );
      expect(enqueued.stderr).toBe("");
      expect(enqueued.code).toBe(0);
      const task = JSON.parse(enqueued.stdout);
      expect(task).toMatchObject({ status: "finished", failed: false });
      const shown = JSON.parse((await run(["tasks", "show", String(task.id), "--json"], options)).stdout);
      expect(shown.result).toBeDefined();
      const status = JSON.parse((await run(["status", "--json"], options)).stdout);
      expect(status.workers).toHaveLength(2);
      for (const worker of workers) worker.child.kill("SIGTERM");
      const ended = await Promise.all(workers.map((w) => w.done));
      for (const end of ended) expect(end.code).toBe(0);
    });
  });
}
