import type { Generated } from "kysely";

/**
 * The ledger's tables as Kysely sees them. SQL is snake_case; the camelCase `Task` is made
 * from these rows in exactly one place (`rows.ts`). Times are integer epoch milliseconds on every
 * dialect; JSON is TEXT; booleans are 0/1 integers — one storage format everywhere.
 */
export interface TasksTable {
  id: Generated<number>;
  name: string;
  description: string;
  owner: string | null;
  queue: string;
  priority: number;
  status: string;
  failed: number;
  progress: number;
  payload: string;
  result: string | null;
  log: string | null;
  attempts: number;
  max_attempts: number;
  retry: string;
  timeout_ms: number;
  reserved_at: number | null;
  schedule_id: number | null;
  slot_at: number | null;
  cancel_requested_at: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** When the task may run (next): its enqueue, reservation or retry time. */
  run_at: number | null;
  /** The worker holding the current attempt (or the last one that held it). */
  worker_id: string | null;
  lease_expires_at: number | null;
  /** The caller's key: one task per (owner, key). */
  idempotency_key: string | null;
  /** When the current attempt passed its point of no return (a cancel is refused from then on), and why. */
  no_return_at: number | null;
  no_return_reason: string | null;
}

export interface NotificationsTable {
  id: Generated<number>;
  owner: string | null;
  name: string;
  task_id: number | null;
  data: string;
  created_at: number;
}

export interface WorkersTable {
  id: string;
  host: string;
  pid: number;
  queues: string;
  concurrency: number;
  started_at: number;
  last_seen_at: number;
}

export interface ScheduledTasksTable {
  id: Generated<number>;
  key: string;
  name: string;
  description: string;
  owner: string | null;
  type: string;
  payload: string;
  spec: string;
  status: string;
  paused_at: number | null;
  next_run_at: number | null;
  last_run_at: number | null;
  run_count: number;
  /** 1 when `register` manages it (declared in code), 0 when made with `schedule` / `cron`. */
  declared: number;
  created_at: number;
  updated_at: number;
}

/** Named leases (e.g. the active scheduler). */
export interface LeasesTable {
  name: string;
  holder: string;
  acquired_at: number;
  /** Last renewal by the holder: "last seen". */
  renewed_at: number;
  expires_at: number;
}

export interface LedgerDatabase {
  tasks: TasksTable;
  notifications: NotificationsTable;
  workers: WorkersTable;
  scheduled_tasks: ScheduledTasksTable;
  leases: LeasesTable;
}

export type TaskRow = {
  [K in keyof TasksTable]: TasksTable[K] extends Generated<infer T> ? T : TasksTable[K];
};
export type NotificationRow = {
  [K in keyof NotificationsTable]: NotificationsTable[K] extends Generated<infer T>
    ? T
    : NotificationsTable[K];
};
export type ScheduledTaskRow = {
  [K in keyof ScheduledTasksTable]: ScheduledTasksTable[K] extends Generated<infer T>
    ? T
    : ScheduledTasksTable[K];
};
export type WorkerRow = WorkersTable;
export type LeaseRow = LeasesTable;
