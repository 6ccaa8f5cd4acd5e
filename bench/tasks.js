// The task definitions the benchmarks run. `probe` lets a benchmark see handler starts and
// aborts, in this process or (through bench/worker-child.js) in another one.
import { EventEmitter } from "node:events";
import { defineTask } from "../dist/index.js";
import { wallNow } from "./lib.js";

export const probe = new EventEmitter();
probe.setMaxListeners(0);

/** Handler runs so far in this process (read by the drain benchmarks). */
export const counters = { runs: 0 };

/** Does nothing but count itself; returns a small result so the stored result is visible. */
export const noop = defineTask({
  name: "bench_noop",
  run: () => {
    counters.runs++;
    return true;
  },
});

/**
 * Queue `count` no-op tasks with `enqueueMany`, 5,000 at a time (set-up, not measured); `owner`
 * names the owner of task n.
 */
export async function enqueueNoops(tl, count, owner = () => "bench") {
  for (let i = 0; i < count; i += 5_000) {
    const items = Array.from({ length: Math.min(5_000, count - i) }, (_, j) => ({
      task: noop,
      payload: { n: i + j },
      options: { description: "bench no-op", owner: owner(i + j) },
    }));
    await tl.tasks.enqueueMany(items);
  }
}

/** Tells the probe when it started; returns the start time. */
export const stamp = defineTask({
  name: "bench_stamp",
  run: (_payload, ctx) => {
    const at = wallNow();
    probe.emit("started", { id: ctx.id, at });
    return at;
  },
});

/** Runs until its signal fires, and tells the probe when it did. */
export const hold = defineTask({
  name: "bench_hold",
  timeout: 120_000,
  run: (_payload, ctx) =>
    new Promise((_resolve, reject) => {
      ctx.signal.addEventListener(
        "abort",
        () => {
          probe.emit("aborted", { id: ctx.id, at: wallNow() });
          reject(ctx.signal.reason);
        },
        { once: true },
      );
      probe.emit("started", { id: ctx.id, at: wallNow() });
    }),
});

export const benchTasks = [noop, stamp, hold];
