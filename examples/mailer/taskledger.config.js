// @ts-check
// The demo app's configuration: the tasks (one module each, in tasks/) and
// the web app `taskledger start` serves. `npx taskledger start` uses this file when the current
// directory has no taskledger.config.js.
import { defineConfig } from "taskledger";
import { reservationLeadSeconds } from "./lib/settings.js";
import { countWords } from "./tasks/count-words.js";
import { createImageSet } from "./tasks/create-image-set.js";
import { feedUrl, fetchRss } from "./tasks/fetch-rss.js";
import { sendAsyncMail } from "./tasks/send-mail.js";
import { createMailerApp } from "./web/app.js";

export default defineConfig({
  tasks: [countWords, sendAsyncMail, createImageSet, fetchRss],
  // The queues workers serve, in priority order: reservations go to "high", everything else to
  // "default". A task sent to any other queue is refused.
  queues: ["high", "default"],
  // Registered when a worker with the scheduler starts (`taskledger start`) or by
  // `taskledger schedules sync`. The key is the identity; RSS_FEED_URL sets the feed (without it,
  // the run reads the feed the demo's web app serves at /feed.xml).
  schedules: [
    {
      key: "fetch-rss",
      task: fetchRss,
      description: "fetch the RSS feed and count its items",
      payload: { url: feedUrl() },
      every: 5 * 60_000,
    },
  ],
  reservationLeadSeconds,
  web: { handler: createMailerApp },
});
