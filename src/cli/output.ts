import { type DisplayStatus, displayStatus, type Task } from "../core/types.js";
import { taskToJson } from "../http/presenters.js";

/** Human output (tables, progress bars) or `--json`; one place decides. */
export interface Output {
  readonly json: boolean;
  readonly tty: boolean;
  line(text?: string): void;
  data(value: unknown): void;
  error(text: string): void;
  /**
   * A line to print before the first line of human output (the ledger a command used), in the
   * same write; an error alone on stderr leaves stdout empty.
   */
  preface(text: string): void;
}

export function createOutput(json: boolean, stdout = process.stdout, stderr = process.stderr): Output {
  let preface: string | undefined;
  return {
    json,
    tty: Boolean(stdout.isTTY) && !json,
    line: (text = "") => {
      const first = preface === undefined ? "" : `${preface}\n`;
      preface = undefined;
      stdout.write(`${first}${text}\n`);
    },
    data: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    error: (text) => void stderr.write(`${text}\n`),
    preface: (text) => {
      preface = text;
    },
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

const STATUS_COLORS: Record<DisplayStatus, (text: string) => string> = {
  reserved: (text) => text,
  queued: (text) => text,
  running: color.blue,
  finished: color.green,
  failed: color.red,
  canceled: color.yellow,
};

/** What each status means, for `--help`. */
export const STATUS_NOTES: readonly string[] = [
  "Statuses: reserved (waits for its time), queued, running, finished (succeeded), failed (its last",
  "attempt failed, after its retries), canceled.",
];

/** A task's status as people read it (`displayStatus`), in its color. */
export function statusLabel(task: Pick<Task, "status" | "failed">): string {
  const status = displayStatus(task);
  return STATUS_COLORS[status](status);
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
