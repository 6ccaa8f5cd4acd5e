import BetterSqlite3 from "better-sqlite3";
import { createTaskledger, defineTask, type Taskledger } from "../../src/index.js";

/**
 * The test process only enqueues, cancels and reads: the tasks run in worker processes
 * (`fixtures/worker.mjs`), so here they are names with a payload type and no body.
 */
const elsewhere = () => {
  throw new Error("fault-test tasks run in the worker processes");
};
export const work = defineTask<{ ms: number }>({ name: "work", run: elsewhere });
export const gated = defineTask<{ gate: string }>({ name: "gated", run: elsewhere });
export const last = defineTask<{ gate: string }>({ name: "last", retry: 0, run: elsewhere });
export const big = defineTask<{ gate: string; size: number }>({ name: "big", run: elsewhere });
export const crunch = defineTask<{ ms: number }>({ name: "crunch", retry: 1, run: elsewhere });
export const block = defineTask<{ ms: number }>({ name: "block", retry: 1, run: elsewhere });

export function openLedger(url: string): Taskledger {
  return createTaskledger({ database: url, tasks: [work, gated, last, big, crunch, block] });
}

export interface TaskState {
  id: number;
  status: string;
  failed: number;
  attempts: number;
  result: string | null;
  log: string | null;
}

/** The tasks as they are on disk, read through a separate connection. */
export function readTasks(file: string): TaskState[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return db
      .prepare("select id, status, failed, attempts, result, log from tasks order by id")
      .all() as TaskState[];
  } finally {
    db.close();
  }
}

export function countWhere(file: string, sql: string): number {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (db.prepare(`select count(*) as n from ${sql}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}
