/**
 * Reading the docs' code blocks, so tests can run what the docs show as written.
 */

/** The text of the `## heading` section (up to the next `## `). */
export function markdownSection(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const end = markdown.indexOf("\n## ", start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** The fenced code blocks of one language (` ```js `, ` ```sh `, …), in order. */
export function codeBlocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1]!);
}

export interface ShellStep {
  readonly command: string;
  /** The lines a block shows under its command: what the command prints (some of it). */
  readonly shows: readonly string[];
}

/** Shell blocks as commands (lines starting with `prefix`) and the lines shown under each. */
export function shellSteps(blocks: readonly string[], prefix: string): ShellStep[] {
  const steps: { command: string; shows: string[] }[] = [];
  for (const block of blocks) {
    for (const line of block.split("\n")) {
      if (line.trim() === "") continue;
      if (line.startsWith(prefix)) steps.push({ command: line, shows: [] });
      else if (steps.length === 0) throw new Error(`a shown line before any command: ${line}`);
      else steps.at(-1)!.shows.push(line);
    }
  }
  return steps;
}

const squeeze = (text: string) => text.replace(/\s+/g, " ").trim();

/** A shown line as a pattern: `…` matches anything, runs of spaces match one space. */
function pattern(shown: string): RegExp {
  const parts = squeeze(shown)
    .split("…")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(parts.join(".*"));
}

/**
 * The shown lines missing from `output`: each is looked for after the line the previous one
 * matched, so the order counts and other lines may come between.
 */
export function missingLines(shows: readonly string[], output: string): string[] {
  const lines = output.split("\n").map(squeeze);
  const missing: string[] = [];
  let from = 0;
  for (const shown of shows) {
    const at = lines.findIndex((line, i) => i >= from && pattern(shown).test(line));
    if (at < 0) missing.push(shown);
    else from = at + 1;
  }
  return missing;
}
