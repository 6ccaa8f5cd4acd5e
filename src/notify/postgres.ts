import { createRequire } from "node:module";
import { sql } from "kysely";
import type { Database } from "../ledger/database.js";
import type { Channel } from "./channel.js";

/** The NOTIFY channel of a PostgreSQL ledger (channels are per database: ledgers never mix). */
export const POSTGRES_CHANNEL = "taskledger_changed";
/** The listening connection's `application_name`, as `pg_stat_activity` shows it. */
export const LISTENER_NAME = "taskledger-notify";
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

/** The part of `pg.Client` used here. */
interface PgClient {
  connect(): Promise<void>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): this;
  on(event: "error" | "end", listener: () => void): this;
}

const require = createRequire(import.meta.url);

/**
 * PostgreSQL LISTEN/NOTIFY. A change is announced after its commit with `pg_notify` on a pooled
 * connection (a process that only writes opens nothing more). A process with listeners holds one
 * connection of its own from `url` that LISTENs; when it drops, it reconnects with backoff and
 * listeners read again, since messages sent meanwhile are lost. Without `url` (the ledger was
 * given as an opened database) the listening side is `poll`.
 */
export function createPostgresChannel(
  database: Pick<Database, "db">,
  url: string | undefined,
  poll: Channel,
): Channel {
  let client: PgClient | undefined;
  let connecting: Promise<void> | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let delay = FIRST_RETRY_MS;
  let closed = false;

  function listen(heard: (sender: string | undefined) => void): void {
    const connect = async () => {
      const pg = require("pg") as { Client: new (config: object) => PgClient };
      const candidate = new pg.Client({
        connectionString: url,
        application_name: LISTENER_NAME,
        keepAlive: true,
      });
      let lost = false;
      const drop = () => {
        if (lost) return;
        lost = true;
        if (client === candidate) client = undefined;
        void candidate.end().catch(() => {});
        if (closed || retry) return;
        retry = setTimeout(() => {
          retry = undefined;
          connecting = connect().catch(() => {});
        }, delay);
        retry.unref?.();
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      };
      candidate.on("error", drop);
      candidate.on("end", drop);
      candidate.on("notification", (message) => {
        if (message.channel === POSTGRES_CHANNEL) heard(message.payload ?? "");
      });
      try {
        await candidate.connect();
        await candidate.query(`LISTEN ${POSTGRES_CHANNEL}`);
      } catch {
        drop();
        return;
      }
      if (lost) return;
      if (closed) {
        await candidate.end().catch(() => {});
        return;
      }
      client = candidate;
      delay = FIRST_RETRY_MS;
      // Whatever committed before LISTEN took effect (or while the connection was down) was not heard.
      heard(undefined);
    };
    // `pg` itself is loaded already (the ledger's pool): nothing here rejects but a broken install.
    connecting = connect().catch(() => {});
  }

  return {
    async send(sender) {
      await sql`select pg_notify(${POSTGRES_CHANNEL}, ${sender})`.execute(database.db);
    },
    listen: url === undefined ? poll.listen : listen,
    async close() {
      closed = true;
      clearTimeout(retry);
      await connecting;
      await client?.end().catch(() => {});
      client = undefined;
      await poll.close();
    },
  };
}
