// @ts-check
import { defineTask } from "taskledger";

/**
 * The feed the example's schedule fetches: `RSS_FEED_URL` when set (stored in the schedule's
 * payload), else the feed the demo's web app serves itself at `/feed.xml` — so the schedule works
 * on a machine with no internet. `taskledger start` and `taskledger web` put the address they
 * serve in `TASKLEDGER_WEB_URL`; a worker in another process assumes the default address.
 */
export function feedUrl() {
  return process.env.RSS_FEED_URL || null;
}

export function ownFeedUrl() {
  return new URL("/feed.xml", process.env.TASKLEDGER_WEB_URL || "http://127.0.0.1:3000").href;
}

/**
 * The seeds' `fetch_rss`, run on a schedule: fetch an RSS or Atom feed and record how many items
 * it has, its title and its latest headlines. An unreachable feed fails the run (and so marks
 * its schedule `failed`) with the reason in the run's log; the next run that succeeds sets the
 * schedule back to `running`.
 *
 * Payload: `{ url }`; a null url reads the demo's own feed (`ownFeedUrl()`).
 */
export const fetchRss = defineTask({
  name: "fetch_rss",
  timeout: 30_000,
  retry: { max: 1, delay: 10_000 },
  /** @param {{ url: string | null }} input */
  async run(input, ctx) {
    const url = input?.url === null ? ownFeedUrl() : input?.url;
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
      throw new Error(`fetch_rss needs { url: "http(s)://…" } (got ${JSON.stringify(input)})`);
    }
    let response;
    try {
      response = await fetch(url, {
        signal: ctx.signal,
        headers: { accept: "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8" },
      });
    } catch (error) {
      throw new Error(`cannot reach the feed ${url}: ${reason(error)}`);
    }
    if (!response.ok) throw new Error(`the feed ${url} answered ${response.status} ${response.statusText}`);
    await ctx.setProgress(50);
    const xml = await response.text();
    if (!/<(rss|feed|rdf:RDF)[\s>]/.test(xml)) throw new Error(`${url} is not an RSS or Atom feed`);
    const entries = xml.match(/<(item|entry)[\s>][\s\S]*?<\/\1>/g) ?? [];
    const headlines = entries.map((entry) => titleOf(entry)).filter(Boolean);
    return {
      url,
      title: titleOf(xml.replace(/<(item|entry)[\s>][\s\S]*?<\/\1>/g, "")),
      items: entries.length,
      latest: headlines.slice(0, 5),
    };
  },
});

/** @param {string} xml */
function titleOf(xml) {
  const raw = /<title[^>]*>([\s\S]*?)<\/title>/.exec(xml)?.[1] ?? "";
  return raw
    .replace(/^\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*$/, "$1")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&amp;/g, "&")
    .trim();
}

/**
 * What went wrong under `fetch failed`: the network error's code and message.
 * @param {any} error
 */
function reason(error) {
  const cause = error?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ""}`;
  return error instanceof Error ? error.message : String(error);
}
