// The web side with 100,000 tasks in the ledger, over real HTTP on 127.0.0.1:
//   http.tasks_list_100k.p95_ms      GET /api/tasks (a user's newest 50)
//   http.dashboard_100k.p95_ms       the admin "All tasks" page (queue counts, workers, newest 50)
//   sse.progress_delivery.p95_ms     setProgress() → the event read by an SSE client, with the
//                                    worker in the web process (what `taskledger start` runs)
// and, as extras, other pages and the delivery when the worker is another process.
//
// `node bench/http.js` runs it all; the same file is also the SSE client and the worker child.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import { createDashboardHandler } from "../dist/dashboard/index.js";
import { serve } from "../dist/http/index.js";
import { createTaskledger, defineTask } from "../dist/index.js";
import { emit, percentile, round, say, sleep, summary, tempDatabase, wallNow } from "./lib.js";

const TASKS = 100_000;
const USERS = 200;
const SAMPLES = 300;
const PROGRESS_TASKS = 24;
const STEPS = 25;

/** Reports progress 1…STEPS, each stamped with the wall-clock time it was written. */
const progress = defineTask({
  name: "bench_progress",
  async run(_payload, ctx) {
    for (let step = 1; step <= STEPS; step++) {
      await sleep(15);
      await ctx.setProgress(Math.round((100 * step) / (STEPS + 1)), { t: wallNow() });
    }
    return true;
  },
});
const names = ["send_async_mail", "count_words", "create_image_set"].map((name) =>
  defineTask({ name, run: () => null }),
);
const tasks = [progress, ...names];
const owner = (i) => `user${String(i % USERS).padStart(3, "0")}`;

const mode = process.argv[2];
if (mode === "sse-client") await sseClient(process.argv[3], Number(process.argv[4]));
else if (mode === "worker") await workerChild(process.argv[3]);
else await main();

async function main() {
  const { url: database, file } = tempDatabase("tl-bench-http-");
  const tl = createTaskledger({ database, tasks });
  await tl.migrate();
  await seed(tl, file);
  const authenticate = (request) => {
    const user = request.headers.get("x-bench-user");
    return user ? { user, admin: user === "admin" } : null;
  };
  const dashboard = createDashboardHandler(tl, { authenticate, secret: "a bench secret, long enough" });
  const server = await serve(dashboard, { port: 0 });
  say(`serving ${server.url}`);

  const get = async (path, user) => {
    const started = performance.now();
    const response = await fetch(`${server.url}${path}`, { headers: { "x-bench-user": user } });
    const body = await response.text();
    const ms = performance.now() - started;
    if (response.status !== 200)
      throw new Error(`${path} answered ${response.status}: ${body.slice(0, 200)}`);
    return { ms, body };
  };
  const measure = async (path, user, check) => {
    for (let i = 0; i < 20; i++) await get(path, user);
    const times = [];
    for (let i = 0; i < SAMPLES; i++) {
      const { ms, body } = await get(path, user);
      if (i === 0) check(body);
      times.push(ms);
    }
    return times;
  };

  const list = await measure("/api/tasks", "user042", (body) => {
    const page = JSON.parse(body);
    if (page.tasks.length !== 50 || page.tasks.some((t) => t.owner !== "user042"))
      throw new Error("wrong /api/tasks page");
  });
  emit("http.tasks_list_100k.p95_ms", percentile(list, 95), "ms", { ...summary(list), tasks: TASKS });
  const adminList = await measure("/api/tasks?status=finished&limit=200", "admin", (body) => {
    if (JSON.parse(body).tasks.length !== 200) throw new Error("wrong admin page");
  });
  emit("http.tasks_list_100k_admin_200.p95_ms", percentile(adminList, 95), "ms", summary(adminList));

  const admin = await measure("/admin", "admin", (body) => {
    if (!body.includes("All tasks") || (body.match(/data-task-id=/g) ?? []).length !== 50)
      throw new Error("wrong admin page");
  });
  emit("http.dashboard_100k.p95_ms", percentile(admin, 95), "ms", {
    ...summary(admin),
    page: "/admin",
    tasks: TASKS,
  });
  const center = await measure("/", "user042", (body) => {
    if (!body.includes("Last finished")) throw new Error("wrong task center");
  });
  emit("http.task_center_100k.p95_ms", percentile(center, 95), "ms", { ...summary(center), page: "/" });
  const filtered = await measure("/admin?status=running&owner=user007", "admin", (body) => {
    if (!body.includes("All tasks")) throw new Error("wrong filtered page");
  });
  emit("http.dashboard_100k_filtered.p95_ms", percentile(filtered, 95), "ms", summary(filtered));

  // SSE, worker in this process: the embedded default.
  const worker = tl.createWorker({ concurrency: 4 });
  await worker.start();
  const inProcess = await delivery(tl, server.url, "progress-in");
  await worker.stop();
  emit("sse.progress_delivery.p95_ms", percentile(inProcess, 95), "ms", {
    ...summary(inProcess),
    worker: "same process",
  });

  // SSE, worker in another process: the web process learns of each write from the database file.
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "worker", database], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve) => child.stdout.once("data", resolve));
  const crossProcess = await delivery(tl, server.url, "progress-out");
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  emit("sse.progress_delivery_cross_process.p95_ms", percentile(crossProcess, 95), "ms", {
    ...summary(crossProcess),
    worker: "another process",
  });

  await server.close();
  await tl.close();
}

/** 100,000 tasks over 200 users (finished, failed, canceled, reserved, queued), three notifications each. */
async function seed(tl, file) {
  const started = performance.now();
  for (let done = 0; done < TASKS; done += 5_000) {
    await tl.tasks.enqueueMany(
      Array.from({ length: 5_000 }, (_, k) => {
        const i = done + k;
        return {
          task: names[i % names.length],
          payload: { to: `person${i}@example.com`, template: "welcome" },
          options: {
            description: `bench task ${i}`,
            owner: owner(i),
            queue: i % 10 === 0 ? "high" : "default",
          },
        };
      }),
    );
  }
  const db = new BetterSqlite3(file);
  db.pragma("journal_mode = WAL");
  db.transaction(() => {
    const now = Date.now();
    db.prepare(
      `update tasks set status = case when id % 50 = 0 then 'canceled' when id % 97 = 0 then 'reserved' when id % 89 = 0 then 'queued' else 'finished' end,
         failed = case when id % 13 = 0 or id % 50 = 0 then 1 else 0 end,
         progress = case when id % 97 = 0 or id % 89 = 0 then 0 else 100 end,
         result = '{"result":"success"}', attempts = 1, started_at = created_at, finished_at = ?`,
    ).run(now);
    const note = db.prepare(
      "insert into notifications (owner, name, task_id, data, created_at) values (?, ?, ?, ?, ?)",
    );
    for (let id = 1; id <= TASKS; id++) {
      for (const [name, data] of [
        ["task_progress", { taskId: id, progress: 0, status: "running" }],
        ["task_progress", { taskId: id, progress: 100, status: "finished" }],
        ["task_finished", { taskId: id, status: "finished", failed: false }],
      ]) {
        note.run(owner(id - 1), name, id, JSON.stringify(data), now);
      }
    }
  })();
  db.close();
  say(
    `seeded ${TASKS} tasks and ${3 * TASKS} notifications in ${round((performance.now() - started) / 1000)} s`,
  );
}

/** Start the progress tasks for one user while an SSE client (another process) listens; its latencies. */
async function delivery(tl, url, user) {
  const expected = PROGRESS_TASKS * STEPS;
  const client = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), "sse-client", `${url}/api/events`, String(expected)],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_USER: user },
    },
  );
  let output = "";
  client.stdout.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  while (!output.includes("open")) await sleep(5);
  await tl.tasks.enqueueMany(
    Array.from({ length: PROGRESS_TASKS }, (_, i) => ({
      task: progress,
      payload: i,
      options: { description: "progress", owner: user },
    })),
  );
  await new Promise((resolve) => client.once("exit", resolve));
  const latencies = JSON.parse(output.slice(output.indexOf("["))).map(Number);
  if (latencies.length !== expected)
    throw new Error(`SSE client saw ${latencies.length} of ${expected} progress events`);
  return latencies;
}

/** Reads the event stream; prints "open", then the latency of each stamped progress event. */
async function sseClient(url, expected) {
  const response = await fetch(url, { headers: { "x-bench-user": process.env.BENCH_USER } });
  process.stdout.write("open\n");
  const latencies = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    const received = wallNow();
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
      buffer = buffer.slice(end + 2);
      const note = data ? JSON.parse(data) : undefined;
      if (note?.name === "task_progress" && typeof note.data?.data?.t === "number")
        latencies.push(received - note.data.data.t);
      end = buffer.indexOf("\n\n");
    }
    if (latencies.length >= expected) break;
  }
  process.stdout.write(`${JSON.stringify(latencies.map((v) => round(v, 3)))}\n`);
  process.exit(0);
}

/** A worker in its own process on the same file. */
async function workerChild(database) {
  const tl = createTaskledger({ database, tasks });
  const worker = tl.createWorker({ concurrency: 4 });
  await worker.start();
  process.stdout.write("ready\n");
  process.on("SIGTERM", async () => {
    await worker.stop();
    await tl.close();
    process.exit(0);
  });
}
