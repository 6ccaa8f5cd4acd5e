import type { Kysely } from "kysely";
import { capabilitiesOf } from "./capabilities.js";
import type { LedgerDatabase } from "./schema.js";

type Db = Kysely<LedgerDatabase>;
type Table = "tasks" | "scheduled_tasks";
// The select and update builders of one table take the same conditions; typed loosely here.
type Where = (query: any) => any;

/**
 * An UPDATE that gives back the rows it changed, where the database has no `UPDATE … RETURNING`
 * (MySQL, MariaDB): in one transaction, the matching rows are locked by id (`SELECT … FOR UPDATE`
 * with the update's own conditions), updated by id, and read again. Rows are locked before they
 * are read, so the rows read back are exactly those the update changed, as RETURNING would give.
 */
export async function lockedUpdate<R>(
  db: Db,
  table: Table,
  where: Where,
  set: any,
  columns: readonly string[] | "*" = "*",
): Promise<R[]> {
  const work = async (tx: Db): Promise<R[]> => {
    const locked: { id: number }[] = await where(tx.selectFrom(table).select("id")).forUpdate().execute();
    if (locked.length === 0) return [];
    const ids = locked.map((row) => row.id);
    await tx
      .updateTable(table)
      .set(set)
      .where("id", "in", ids as never)
      .execute();
    const reread = tx.selectFrom(table).where("id", "in", ids as never);
    return (await (columns === "*" ? reread.selectAll() : reread.select(columns as never)).execute()) as R[];
  };
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/** True when `db` can give rows back from an UPDATE in the same statement. */
export const updateReturns = (db: Db): boolean => capabilitiesOf(db).updateReturning;
