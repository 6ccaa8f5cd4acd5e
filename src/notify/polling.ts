import { sql } from "kysely";
import type { Database } from "../ledger/database.js";
import type { Channel } from "./channel.js";

/** How often a poll reads the ledger while this process has listeners, ms. */
export const POLL_MS = 1_000;

/**
 * No channel between processes (a MySQL ledger without Redis): once this process has listeners,
 * read the newest task and notification ids every `intervalMs` (two index lookups) and wake them
 * when either moved — and after the first read, which is where the poll starts from. Commits by
 * this process still wake its listeners at once.
 */
export function createPollingChannel(database: Pick<Database, "db">, intervalMs = POLL_MS): Channel {
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    listen(heard) {
      let last: string | undefined;
      let reading = false;
      const read = async () => {
        if (reading) return;
        reading = true;
        try {
          const { rows } = await sql<{ t: unknown; n: unknown }>`select
            (select max(id) from tasks) as t, (select max(id) from notifications) as n`.execute(database.db);
          const seen = `${rows[0]?.t}:${rows[0]?.n}`;
          if (seen !== last) heard(undefined);
          last = seen;
        } catch {
          // the ledger is unreachable or closed: try again next time
        } finally {
          reading = false;
        }
      };
      void read();
      timer = setInterval(read, intervalMs);
      timer.unref?.();
    },
    async close() {
      clearInterval(timer);
    },
  };
}
