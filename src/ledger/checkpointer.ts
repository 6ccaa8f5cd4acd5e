import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * WAL checkpoints on a background thread. In WAL mode SQLite copies the log back into the
 * database file, and syncs both, during whichever commit crosses its threshold: on a busy ledger
 * every few hundredth commit costs many times a plain one, and the caller waiting on it (an
 * enqueue, a worker's round) stalls. Here a second connection on its own thread checkpoints
 * instead — PASSIVE, so it never blocks readers or writers — and commits only append to the log.
 *
 * The log starts over only once it is wholly copied back between two writes, which a steady
 * stream of commits may never leave time for: the writer keeps its own automatic checkpoint, at
 * a higher threshold (`BACKSTOP_PAGES`). When it runs, the thread has already copied and synced
 * nearly everything, and the writer — holding the write lock, so nothing is appended meanwhile —
 * completes it, and the log starts over.
 */
export interface Checkpointer {
  stop(): Promise<void>;
}

/** Pages in the log before the writer checkpoints by itself (the thread normally keeps it far below). */
export const BACKSTOP_PAGES = 8_192;

const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("synchronous = NORMAL");
let timer;
let stopped = false;
let lastLog = -1;
// Polled often while the log grows, seldom once nothing new was written since the last look.
function checkpoint() {
  let grew = false;
  try {
    const [result] = db.pragma("wal_checkpoint(PASSIVE)");
    grew = result.log !== lastLog;
    lastLog = result.log;
  } catch {}
  if (!stopped) timer = setTimeout(checkpoint, grew ? workerData.busyMs : workerData.idleMs);
}
parentPort.on("message", () => {
  stopped = true;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
timer = setTimeout(checkpoint, workerData.busyMs);
`;

const driver = createRequire(import.meta.url).resolve("better-sqlite3");

/** `onFailure` runs if the thread cannot start or dies: the writer's own checkpoints must take over. */
export function startCheckpointer(
  file: string,
  onFailure: () => void,
  { busyMs = 20, idleMs = 250 } = {},
): Checkpointer {
  const worker = new Worker(THREAD, {
    eval: true,
    workerData: { driver, file, busyMs, idleMs },
    // The thread runs one pragma in a loop: a small heap and stack keep its share of the process's
    // memory small (loading the driver needs an old space of about 6 MB).
    resourceLimits: {
      maxYoungGenerationSizeMb: 1,
      maxOldGenerationSizeMb: 8,
      codeRangeSizeMb: 2,
      stackSizeMb: 1,
    },
  });
  worker.unref();
  worker.on("error", () => onFailure());
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    async stop() {
      worker.postMessage("stop");
      const timeout = setTimeout(() => void worker.terminate(), 1_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
