export { createTaskledger, type Taskledger, type TaskledgerOptions, type StatusReport } from "./taskledger.js";
export {
  defineTask,
  type TaskContext,
  type TaskDefinition,
  type TaskDefinitionOptions,
  type PayloadOf,
  type ResultOf,
} from "./tasks/define.js";
export { setTaskProgress, currentTask } from "./tasks/context.js";
export { TaskledgerError, isTaskledgerError, type ErrorCode } from "./core/errors.js";
export type { RetryPolicy, RetryOption } from "./core/backoff.js";
export type { Clock } from "./core/clock.js";
export {
  TASK_STATUSES,
  type Task,
  type TaskStatus,
  type Notification,
  type NotificationName,
  type CancelResult,
  type WorkerInfo,
} from "./core/types.js";
export type { TaskService, NotificationService, EnqueueOptions, ListOptions, ManyItem, OwnerScope } from "./client/task-service.js";
export type { Worker, WorkerOptions } from "./worker/worker.js";
export type { ScheduleService, ScheduleListOptions, RunsOptions, ScheduleRef } from "./scheduler/service.js";
export {
  SCHEDULE_STATUSES,
  type Schedule,
  type ScheduleEntry,
  type ScheduleStatus,
  type IntervalSchedule,
  type CronSchedule,
  type OverlapPolicy,
  type RegisterSummary,
  type SchedulerStatus,
} from "./scheduler/types.js";
export { scheduleToJson } from "./scheduler/store.js";
export { openDatabase, type Database } from "./ledger/database.js";
export { taskToJson } from "./ledger/rows.js";
export { defineConfig, type TaskledgerConfig } from "./cli/config.js";
