export { defineConfig, type TaskledgerConfig } from "./cli/config.js";
export type {
  EnqueueOptions,
  EnqueueResult,
  ListOptions,
  ManyItem,
  NotificationService,
  OwnerScope,
  TaskService,
} from "./client/task-service.js";
export type { RetryOption, RetryPolicy } from "./core/backoff.js";
export type { Clock } from "./core/clock.js";
export { type ErrorCode, isTaskledgerError, TaskledgerError } from "./core/errors.js";
export type { PendingRetry } from "./core/task-log.js";
export {
  type CancelResult,
  DISPLAY_STATUSES,
  type DisplayStatus,
  displayStatus,
  type Notification,
  type NotificationName,
  TASK_STATUSES,
  type Task,
  type TaskStatus,
  type WorkerInfo,
} from "./core/types.js";
export { scheduleToJson, taskToJson } from "./http/presenters.js";
export { type Database, openDatabase } from "./ledger/database.js";
export type { PruneReport, RetentionOptions } from "./maintenance/prune.js";
export type { RunsOptions, ScheduleListOptions, ScheduleRef, ScheduleService } from "./scheduler/service.js";
export {
  type CronSchedule,
  type IntervalSchedule,
  type OverlapPolicy,
  type RegisterSummary,
  SCHEDULE_STATUSES,
  type Schedule,
  type ScheduleEntry,
  type SchedulerStatus,
  type ScheduleStatus,
} from "./scheduler/types.js";
export {
  createTaskledger,
  type StatusReport,
  type Taskledger,
  type TaskledgerOptions,
} from "./taskledger.js";
export { currentTask, setTaskProgress } from "./tasks/context.js";
export {
  defineTask,
  type PayloadOf,
  type ResultOf,
  type TaskContext,
  type TaskDefinition,
  type TaskDefinitionOptions,
} from "./tasks/define.js";
export type { Worker, WorkerOptions } from "./worker/worker.js";
