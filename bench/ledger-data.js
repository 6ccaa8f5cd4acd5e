// A migrated ledger filled with generated rows, made by the database itself — PostgreSQL's
// generate_series, MariaDB's sequence engine (`seq_1_to_N`), a recursive CTE on SQLite and MySQL —
// so a million rows take seconds, not a million round trips. Used by bench/ledger.js and by the
// plan checks (test/ledger/explain.test.ts).
import { sql } from "kysely";

const CHUNK = 100_000;

/**
 * `count` tasks, numbered i = 1…count in id order, 100,000 per transaction. Task i belongs to
 * `user<k>`, k = floor(owners·x²) with x uniform in [0, 1) from a hash of i: skewed sizes (with
 * 1,000 owners, user0 has ~3% of all tasks, user999 ~0.05%). Statuses by i: 88% finished (1 in 13
 * of them failed), 5% canceled, 3% queued, 2% running, 2% reserved; one in ten in queue `high`;
 * names `send_mail`, `count_words`, `resize_image` in turn. With `schedules` (ids from
 * `fillSchedules`), every 20th task is a run of one of them.
 */
export async function fillTasks(database, { count, owners, schedules = [] }) {
  const { dialect } = database;
  const cat = (...parts) => (dialect === "mysql" ? `concat(${parts.join(", ")})` : parts.join(" || "));
  const x = "(((i * 2654435761) % 4294967296) / 4294967296.0)";
  const k =
    dialect === "sqlite" ? `cast(${x} * ${x} * ${owners} as integer)` : `floor(${x} * ${x} * ${owners})`;
  const at = "(1700000000000 + i * 10)";
  const kind = "i % 100";
  const div = dialect === "mysql" ? "div" : "/"; // MySQL's `/` gives a decimal
  const runOf =
    schedules.length > 0
      ? {
          id: `case when i % 20 = 0 then ${schedules[0]} + (i ${div} 20) % ${schedules.length} end`,
          slot: `case when i % 20 = 0 then ${at} end`,
        }
      : { id: "null", slot: "null" };
  if (schedules.length > 0 && schedules.at(-1) - schedules[0] !== schedules.length - 1)
    throw new Error("fillTasks: schedule ids must be consecutive");
  const select = `select
      case i % 3 when 0 then 'send_mail' when 1 then 'count_words' else 'resize_image' end,
      ${cat("'bench task '", "i")}, ${cat("'user'", k)},
      case when i % 10 = 0 then 'high' else 'default' end, 0,
      case when ${kind} < 88 then 'finished' when ${kind} < 93 then 'canceled' when ${kind} < 96 then 'queued'
        when ${kind} < 98 then 'running' else 'reserved' end,
      case when ${kind} < 88 and i % 13 = 0 then 1 when ${kind} between 88 and 92 then 1 else 0 end,
      case when ${kind} < 93 then 100 else 0 end,
      '{"to":"person@example.com","template":"welcome"}',
      case when ${kind} < 88 then '{"sent":true}' end,
      case when ${kind} between 93 and 95 then 0 else 1 end, 3, '{"kind":"exponential","baseMs":1000}', 60000,
      case when ${kind} >= 98 then ${at} + 86400000 end, ${runOf.id}, ${runOf.slot}, ${at}, ${at},
      case when ${kind} < 93 or ${kind} in (96, 97) then ${at} + 5 end,
      case when ${kind} < 93 then ${at} + 50 end,
      case when ${kind} >= 98 then ${at} + 86400000 when ${kind} >= 93 then ${at} end,
      case when ${kind} in (96, 97) then 'worker-1' end,
      case when ${kind} in (96, 97) then ${at} + 60000 end`;
  const columns = `(name, description, owner, queue, priority, status, failed, progress, payload, result,
      attempts, max_attempts, retry, timeout_ms, reserved_at, schedule_id, slot_at, created_at, updated_at,
      started_at, finished_at, run_at, worker_id, lease_expires_at)`;
  const mariadb = dialect === "mysql" && (await isMariadb(database));
  for (let from = 1; from <= count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK - 1);
    const numbers = `with recursive s(i) as (select ${from} union all select i + 1 from s where i < ${to})`;
    const statement =
      dialect === "postgres"
        ? `insert into tasks ${columns} ${select} from generate_series(${from}, ${to}) as s(i)`
        : dialect === "sqlite"
          ? `${numbers} insert into tasks ${columns} ${select} from s`
          : mariadb
            ? `insert into tasks ${columns} ${select} from (select seq as i from seq_${from}_to_${to}) s`
            : `insert into tasks ${columns} ${numbers} ${select} from s`;
    await database.transaction(async (tx) => {
      if (dialect === "mysql" && !mariadb)
        await sql.raw(`set cte_max_recursion_depth = ${CHUNK + 1}`).execute(tx);
      await sql.raw(statement).execute(tx);
    });
  }
}

/** `count` schedules (`schedule-<n>`, hourly); their ids, consecutive on a fresh ledger. */
export async function fillSchedules(database, count) {
  const values = Array.from(
    { length: count },
    (_, n) =>
      `('schedule-${n}', 'send_mail', 'schedule ${n}', 'user${n}', 'interval', '{}', '{"everyMs":3600000}',
        'running', 1700000000000, 0, 1, 1700000000000, 1700000000000)`,
  );
  await sql
    .raw(`insert into scheduled_tasks (${database.dialect === "mysql" ? "`key`" : '"key"'}, name,
      description, owner, type, payload, spec, status, next_run_at, run_count, declared, created_at, updated_at)
      values ${values.join(", ")}`)
    .execute(database.db);
  const { rows } = await sql`select id from scheduled_tasks order by id`.execute(database.db);
  return rows.map((r) => Number(r.id));
}

/** Each task's 3 notifications (progress 0, progress 100, its end), in task order. */
export async function fillNotifications(database) {
  const names = `(select 1 as n, 'task_progress' as name union all select 2, 'task_progress'
    union all select 3, 'task_finished')`;
  await database.transaction((tx) =>
    sql
      .raw(`insert into notifications (owner, name, task_id, data, created_at)
        select t.owner, k.name, t.id, '{"progress":100}', t.created_at
        from tasks t cross join ${names} k order by t.id, k.n`)
      .execute(tx),
  );
}

/** Fresh planner statistics, as the server's own background work keeps them. */
export async function analyze(database) {
  const statements = {
    sqlite: ["analyze"],
    // VACUUM as autovacuum would after a bulk load: it sets the visibility map (index-only plans).
    postgres: ["vacuum analyze tasks", "vacuum analyze notifications", "vacuum analyze scheduled_tasks"],
    mysql: ["analyze table tasks, notifications, scheduled_tasks"],
  }[database.dialect];
  for (const statement of statements) await sql.raw(statement).execute(database.db);
}

async function isMariadb(database) {
  const { rows } = await sql`select version() as v`.execute(database.db);
  return /mariadb/i.test(String(rows[0].v));
}
