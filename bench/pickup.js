// Pickup latency: from the enqueue call to the handler's start, with an idle worker — in the
// same process, and with the worker in another process (woken through the WAL file).
//
// Metrics: embedded.pickup.p50_ms, embedded.pickup_cross_process.p50_ms.
import { createTaskledger } from "../dist/index.js";
import { emit, round, say, startWorkerChild, summary, tempDatabase, until, wallNow } from "./lib.js";
import { benchTasks, probe, stamp } from "./tasks.js";

const SAMPLES = Number(process.env.TL_BENCH_SAMPLES ?? 300);

const finished = (tl, id) =>
  until(async () => (await tl.tasks.get(id)).status === "finished", { message: `task ${id}` });

async function inProcess() {
  const { url } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  const worker = tl.createWorker({ concurrency: 10 });
  await worker.start();
  const latencies = [];
  for (let i = 0; i < SAMPLES + 20; i++) {
    const startedEvent = new Promise((resolve) => probe.once("started", resolve));
    const sent = wallNow();
    const task = await tl.tasks.enqueue(stamp, { i }, { description: "pickup", owner: "bench" });
    const { at } = await startedEvent;
    if (i >= 20) latencies.push(at - sent); // the first ones warm the code paths up
    await finished(tl, task.id);
  }
  await tl.close();
  const s = summary(latencies);
  say(`pickup in process: p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms`);
  emit("embedded.pickup.p50_ms", s.p50_ms, "ms", s);
}

async function crossProcess() {
  const { url } = tempDatabase();
  const tl = createTaskledger({ database: url, tasks: benchTasks });
  await tl.migrate();
  const worker = startWorkerChild({ TL_DATABASE: url, TL_CONCURRENCY: 10 });
  await worker.next((e) => e.event === "ready");
  const latencies = [];
  for (let i = 0; i < SAMPLES + 20; i++) {
    const sent = wallNow();
    const task = await tl.tasks.enqueue(stamp, { i }, { description: "pickup", owner: "bench" });
    const { at } = await worker.next((e) => e.event === "started" && e.id === task.id);
    if (i >= 20) latencies.push(at - sent);
    await finished(tl, task.id);
  }
  await worker.stop();
  await tl.close();
  const s = summary(latencies);
  say(`pickup across processes: p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${round(s.max_ms)} ms`);
  emit("embedded.pickup_cross_process.p50_ms", s.p50_ms, "ms", s);
}

await inProcess();
await crossProcess();
