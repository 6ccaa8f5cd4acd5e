import type { Task } from "../core/types.js";
import { taskToJson } from "../http/presenters.js";

/** Human output (tables, progress bars) or `--json`; one place decides. */
export interface Output {
  readonly json: boolean;
  readonly tty: boolean;
  line(text?: string): void;
  data(value: unknown): void;
  error(text: string): void;
}

export function createOutput(json: boolean, stdout = process.stdout, stderr = process.stderr): Output {
  return {
    json,
    tty: Boolean(stdout.isTTY) && !json,
    line: (text = "") => void stdout.write(`${text}\n`),
    data: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    error: (text) => void stderr.write(`${text}\n`),
  };
}

const useColor = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (useColor() ? `\u001b[${code}m${text}\u001b[0m` : text);
export const color = {
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  blue: paint(34),
  dim: paint(2),
  bold: paint(1),
};

export function statusLabel(task: Pick<Task, "status" | "failed">): string {
  if (task.status === "finished") return task.failed ? color.red("failed") : color.green("finished");
  if (task.status === "canceled") return color.yellow("canceled");
  if (task.status === "running") return color.blue("running");
  return task.status;
}

export function progressBar(progress: number, width = 20): string {
  const filled = Math.round((Math.max(0, Math.min(100, progress)) / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(progress).padStart(3)}%`;
}

/** A plain table: columns sized to content, ANSI codes ignored when measuring. */
export function table(headers: string[], rows: string[][]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
  const strip = (s: string) => s.replace(/\u001b\[\d+m/g, "");
  const widths = headers.map((h, i) =>
    Math.max(strip(h).length, ...rows.map((r) => strip(r[i] ?? "").length)),
  );
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c + " ".repeat(Math.max(0, widths[i]! - strip(c).length)))
      .join("  ")
      .trimEnd();
  return [color.bold(fmt(headers)), ...rows.map(fmt)].join("\n");
}

export function formatTime(date: Date | null): string {
  if (!date) return "-";
  return date
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function taskLine(task: Task): string[] {
  return [
    String(task.id),
    task.name,
    statusLabel(task),
    progressBar(task.progress, 10),
    task.owner ?? "-",
    task.queue,
    truncate(task.description, 40),
    formatTime(task.reservedAt ?? task.createdAt),
  ];
}

export const TASK_HEADERS = ["ID", "NAME", "STATUS", "PROGRESS", "OWNER", "QUEUE", "DESCRIPTION", "AT"];

export { taskToJson };
