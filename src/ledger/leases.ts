import type { SchedulerStatus } from "../core/types.js";
import { capabilitiesOf } from "./capabilities.js";
import type { Db } from "./ledger.js";
import { toSchedulerStatus } from "./rows.js";

/** Named leases (`leases`): which process is the active one of a kind (the scheduler). */

export const SCHEDULER_LEASE = "scheduler";

/**
 * Take or renew a named lease for `ttl` ms: it goes to `holder` when it holds it already or the
 * current holder's lease has run out. True when `holder` holds it now. One statement, so two
 * processes can never both succeed.
 */
export async function holdLease(
  db: Db,
  name: string,
  holder: string,
  now: number,
  ttl: number,
): Promise<boolean> {
  if (capabilitiesOf(db).upsert !== "on conflict") return holdLeaseLocked(db, name, holder, now, ttl);
  const row = await db
    .insertInto("leases")
    .values({ name, holder, acquired_at: now, renewed_at: now, expires_at: now + ttl })
    .onConflict((oc) =>
      oc
        .column("name")
        .doUpdateSet((eb) => ({
          holder,
          acquired_at: eb
            .case()
            .when("leases.holder", "=", holder)
            .then(eb.ref("leases.acquired_at"))
            .else(now)
            .end(),
          renewed_at: now,
          expires_at: now + ttl,
        }))
        .where((eb) => eb.or([eb("leases.holder", "=", holder), eb("leases.expires_at", "<=", now)])),
    )
    .returning("holder")
    .executeTakeFirst();
  return row?.holder === holder;
}

/**
 * The same, where an insert cannot carry a conditional update (MySQL): in one transaction, the
 * row is made if missing (`INSERT IGNORE`), locked, and taken over only on the same conditions.
 */
async function holdLeaseLocked(
  db: Db,
  name: string,
  holder: string,
  now: number,
  ttl: number,
): Promise<boolean> {
  // A missing row is made by one statement of its own (a duplicate is ignored): the process whose
  // insert lands holds the lease. The transaction below then only locks an existing row — no
  // insert inside it to deadlock with another process's.
  const inserted = await db
    .insertInto("leases")
    .ignore()
    .values({ name, holder, acquired_at: now, renewed_at: now, expires_at: now + ttl })
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return true;
  const work = async (tx: Db) => {
    const row = await tx
      .selectFrom("leases")
      .selectAll()
      .where("name", "=", name)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return false;
    if (row.holder !== holder && Number(row.expires_at) > now) return false;
    await tx
      .updateTable("leases")
      .set({
        holder,
        acquired_at: row.holder === holder ? row.acquired_at : now,
        renewed_at: now,
        expires_at: now + ttl,
      })
      .where("name", "=", name)
      .execute();
    return true;
  };
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/** Give a lease up (clean shutdown), so another process takes over at once. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.deleteFrom("leases").where("name", "=", name).where("holder", "=", holder).execute();
}

export async function readSchedulerStatus(db: Db, now: number): Promise<SchedulerStatus> {
  const row = await db
    .selectFrom("leases")
    .selectAll()
    .where("name", "=", SCHEDULER_LEASE)
    .executeTakeFirst();
  return toSchedulerStatus(row, now);
}
