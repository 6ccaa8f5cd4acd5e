// Cancel latency: from the cancel() call to the running handler's abort signal firing — with the
// worker in this process, and in another process (woken through the WAL file).
//
// Metrics: embedded.cancel.in_process_ms, embedded.cancel.cross_process_ms (medians).
import { createTaskledger } from "../dist/index.js";
import {
  cancelLatencies,
  emit,
  say,
  startWorkerChild,
  summary,
  tempDatabase,
  until,
  wallNow,
} from "./lib.js";
import { benchTasks, hold, probe } from "./tasks.js";

const SAMPLES = Number(process.env.TL_BENCH_CANCELS ?? 100);

const canceled = (tl, id) =>
  until(async () => (await tl.tasks.get(id)).status === "canceled", { message: `task ${id} canceled` });

async function inProcess() {
  const { url } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  const worker = tl.createWorker({ concurrency: 10 });
  await worker.start();
  const latencies = [];
  for (let i = 0; i < SAMPLES + 5; i++) {
    const started = new Promise((resolve) => probe.once("started", resolve));
    const task = await tl.tasks.enqueue(hold, { i }, { description: "cancel me", owner: "bench" });
    await started;
    const aborted = new Promise((resolve) => probe.once("aborted", resolve));
    const sent = wallNow();
    const result = await tl.tasks.cancel(task.id);
    if (!result.ok) throw new Error(`cancel refused: ${result.reason}`);
    const { at } = await aborted;
    if (i >= 5) latencies.push(at - sent);
    await canceled(tl, task.id);
  }
  await tl.close();
  const s = summary(latencies);
  say(`cancel in process: p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms`);
  emit("embedded.cancel.in_process_ms", s.p50_ms, "ms", s);
}

async function crossProcess() {
  const { url } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  const worker = startWorkerChild({ TL_DATABASE: url, TL_CONCURRENCY: 10 });
  await worker.next((e) => e.event === "ready");
  const latencies = await cancelLatencies(tl, worker, hold, SAMPLES);
  await worker.stop();
  await tl.close();
  const s = summary(latencies);
  say(`cancel across processes: p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms`);
  emit("embedded.cancel.cross_process_ms", s.p50_ms, "ms", s);
}

await inProcess();
await crossProcess();
