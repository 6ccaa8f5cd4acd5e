// @ts-check
import { defineTask, setTaskProgress } from "taskledger";

/**
 * The seeds' `count_words`: count the words of a web page — or of the text itself when the
 * payload is not a URL, so the example works without a network.
 *
 * Payload: `"https://…"`, `"some text"`, `{ url }` or `{ text }`.
 */
export const countWords = defineTask({
  name: "count_words",
  timeout: 30_000,
  /** @param {string | { url?: string, text?: string }} input */
  async run(input, ctx) {
    const source = typeof input === "string" ? input : (input?.url ?? input?.text ?? "");
    let text = source;
    if (/^https?:\/\//.test(source)) {
      const response = await fetch(source, { signal: ctx.signal });
      if (!response.ok) throw new Error(`GET ${source} answered ${response.status}`);
      text = stripTags(await response.text());
    }
    await setTaskProgress(30);
    const counts = new Map();
    const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
    for (const [index, word] of words.entries()) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
      if (index % 5_000 === 4_999) await ctx.setProgress(30 + Math.round((60 * index) / words.length));
    }
    await ctx.setProgress(90);
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    return { words: words.length, distinct: counts.size, top: Object.fromEntries(top) };
  },
});

/** @param {string} html */
function stripTags(html) {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&[a-z#0-9]+;/gi, " ");
}
