// Runs the benchmarks, each in its own process, one after another. `node bench/run.js NAME…`
// runs only those. Result lines (JSON, one per metric) go to stdout; everything else to stderr.
//
// Every benchmark uses no-op tasks against a fresh SQLite file and checks that what it ran was
// fully recorded. Figures are for this machine; the load average is printed beside them.
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const BENCHMARKS = [
  "process",
  "enqueue",
  "writes",
  "pickup",
  "reserve",
  "cancel",
  "schedule",
  "prune",
  "bullmq",
  "bullmq-servers",
  "ledger",
  "http",
];
/** Run only when named: bullmq-servers measures the same beside the other servers. */
const ON_REQUEST = ["bullmq-pg"];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !BENCHMARKS.includes(name) && !ON_REQUEST.includes(name));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark ${unknown.join(", ")}; choose from: ${[...BENCHMARKS, ...ON_REQUEST].join(", ")}\n`,
  );
  process.exit(2);
}

function run(name) {
  const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "inherit"] });
    let buffer = "";
    const lines = [];
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop();
      for (const line of parts) {
        if (!line.startsWith("{")) continue;
        const result = JSON.parse(line);
        const withLoad = { ...result, load: loadavg()[0].toFixed(2) };
        lines.push(withLoad);
        process.stdout.write(`${JSON.stringify(withLoad)}\n`);
      }
    });
    child.once("exit", (code, signal) => resolve({ name, code: code ?? signal, lines }));
  });
}

process.stderr.write(
  `taskledger benchmarks on ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}\n`,
);
const results = [];
let failed = 0;
for (const name of wanted.length > 0 ? wanted : BENCHMARKS) {
  process.stderr.write(
    `\n[${name}] load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n`,
  );
  const outcome = await run(name);
  if (outcome.code !== 0) {
    failed++;
    process.stderr.write(`[${name}] failed (exit ${outcome.code})\n`);
  }
  results.push(...outcome.lines);
}

process.stderr.write(`\n${"metric".padEnd(52)}${"value".padStart(10)}  unit\n`);
for (const r of results) {
  const value = r.value === null ? `skipped: ${r.skipped}` : String(r.value);
  const ratios = ["of_floor", "of_raw", "of_raw_add", "of_raw_add_bulk"]
    .filter((key) => r[key] !== undefined && r[key] !== null)
    .map((key) => ` ${key} ${r[key]}`)
    .join("");
  const met = r.within_target === undefined ? "" : r.within_target ? " (met)" : " (MISSED)";
  const beside = r.target
    ? `${ratios}  target ${r.target}${met}`
    : r.baseline
      ? `  baseline ${r.baseline}`
      : ratios;
  process.stderr.write(`${r.metric.padEnd(52)}${value.padStart(10)}  ${r.unit}${beside}  load ${r.load}\n`);
}
process.exit(failed > 0 ? 1 : 0);
