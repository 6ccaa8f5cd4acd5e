// Reservation lateness: from a reservation's due time to its handler's start. Many reservations
// spread over a few seconds, reservationLeadSeconds 0, one idle worker in this process.
//
// Metrics: embedded.reserve_lateness.p50_ms, embedded.reserve_lateness.p99_ms.
import { createTaskledger } from "../dist/index.js";
import { emit, say, summary, tempDatabase, until } from "./lib.js";
import { benchTasks, probe, stamp } from "./tasks.js";

const COUNT = Number(process.env.TL_BENCH_RESERVATIONS ?? 2_000);
const SPREAD_MS = 3_000;
const FIRST_DUE_MS = 1_500;

const { url } = tempDatabase();
const tl = createTaskledger({ database: url, tasks: benchTasks, reservationLeadSeconds: 0 });
const worker = tl.createWorker({ concurrency: 10 });
await worker.start();

const starts = new Map();
probe.on("started", ({ id, at }) => starts.set(id, at));

const base = Date.now() + FIRST_DUE_MS;
const due = new Map();
for (let i = 0; i < COUNT; i++) {
  const at = base + Math.floor(Math.random() * SPREAD_MS);
  const task = await tl.tasks.reserve(at, stamp, { i }, { description: "reserved", owner: "bench" });
  due.set(task.id, at);
}
if (Date.now() >= base) say(`warning: reserving took past the first due time (${Date.now() - base} ms late)`);
await until(() => starts.size === COUNT, {
  timeoutMs: SPREAD_MS + 60_000,
  intervalMs: 20,
  message: "every reservation to start",
});
await until(async () => (await tl.status()).counts.every((c) => c.status === "finished"), {
  intervalMs: 20,
  message: "every reservation to finish",
});
await tl.close();

const lateness = [...due].map(([id, at]) => starts.get(id) - at);
const s = summary(lateness);
say(
  `reservation lateness: p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, max ${s.max_ms} ms (early: ${lateness.filter((l) => l < 0).length})`,
);
emit("embedded.reserve_lateness.p50_ms", s.p50_ms, "ms", { ...s, spread_ms: SPREAD_MS });
emit("embedded.reserve_lateness.p99_ms", s.p99_ms, "ms", { ...s, spread_ms: SPREAD_MS });
