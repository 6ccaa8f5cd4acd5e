/// <reference lib="dom" />
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Taskledger, type Worker } from "../../src/index.js";
import { gate } from "../flow/fixture.js";
import { waitFor } from "../helpers/index.js";
import { launchBrowser, MISSING, needsChromium, STRICT } from "./chromium.js";
import { type DemoServer, startDemo } from "./demo-server.js";

/**
 * The details of the demo's pages in real Chromium against `taskledger start`: where a task
 * shows as it moves (reserved → in progress → ended, retries), forms and their messages, the live
 * stream across a restart, and what assistive technology and a phone get.
 */
const SCREENSHOTS = resolve(process.env.TASKLEDGER_SCREENSHOTS ?? "test-results/screenshots");

/** Gates the test opens, by task id: tasks run in this process, on queue "probe". */
const gates = new Map<number, ReturnType<typeof gate>>();
const held = defineTask({
  name: "held",
  retry: 0,
  async run(payload: { fail?: boolean }, ctx) {
    await ctx.setProgress(30);
    await gates.get(ctx.id)!.promise;
    if (payload.fail) throw new Error("the disk is full");
    return "done";
  },
});
const flaky = defineTask({
  name: "flaky",
  retry: { max: 3, delay: 4_000 },
  run(_: null, ctx) {
    if (ctx.attempt === 1)
      throw new Error("the feed is down", { cause: new Error("ENOTFOUND feed.invalid") });
    return "fetched";
  },
});

let server: DemoServer;
let browser: Browser;
let tl: Taskledger;
let probes: Worker;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (MISSING && !STRICT) return;
  server = await startDemo({ MAILER_STEP_MS: "300", MAILER_RESERVATION_LEAD_SECONDS: "5" });
  browser = await launchBrowser();
  tl = createTaskledger({
    database: server.database,
    tasks: [held, flaky],
    queues: ["probe"],
    pollIntervalMs: 50,
    reservationLeadSeconds: 1,
  });
  probes = tl.createWorker({ queues: ["probe"], concurrency: 4 });
  await probes.start();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  for (const g of gates.values()) g.open();
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await probes?.stop();
  await tl?.close();
  await server?.stop();
});

const DESKTOP = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };

async function login(user: string, viewport = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: viewport.width < 600 ? 2 : 1 });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${server.url}/login`);
  await page.fill('input[name="username"]', user);
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('form[action="/login"] button')]);
  return page;
}

async function shot(page: Page, name: string, fullPage = true) {
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

/** Mark the page: `sameDocument(page)` is true later only if it never navigated meanwhile. */
async function markDocument(page: Page) {
  await page.evaluate(() => Object.assign(window, { __marked: true }));
}
const sameDocument = (page: Page) =>
  page.evaluate(() => (window as { __marked?: boolean }).__marked === true);

const card = (section: string, id: number) => `#${section} [data-task-id="${id}"]`;

/** Every value the page's bars of task `id` take from now on (sampled every 10 ms). */
async function recordBars(page: Page, id: number) {
  await page.evaluate((id) => {
    const seen: number[] = [];
    Object.assign(window, { __bars: seen });
    setInterval(() => {
      for (const bar of document.querySelectorAll<HTMLProgressElement>(`[data-task-id="${id}"] progress`))
        if (seen.at(-1) !== bar.value) seen.push(bar.value);
    }, 10);
  }, id);
  return () => page.evaluate(() => (window as unknown as { __bars: number[] }).__bars);
}

describe("a task's card follows it without a reload", () => {
  it("a reservation that starts moves to “In progress” with its bar; failing at 30 % it ends without a full bar", async (ctx) => {
    needsChromium(ctx);
    const page = await login("alice");
    const task = await tl.tasks.reserve(
      Date.now() + 3_000,
      held,
      { fail: true },
      {
        description: "held, then fails",
        owner: "alice",
        queue: "probe",
      },
    );
    gates.set(task.id, gate());
    await page.reload();
    await page.waitForSelector(card("reserved", task.id));
    await markDocument(page);
    const bars = await recordBars(page, task.id);

    await page.waitForSelector(`${card("in-progress", task.id)} progress`, { timeout: 20_000 });
    expect(await page.textContent(`${card("in-progress", task.id)} [data-field="status"]`)).toBe("running");
    await page.waitForFunction(
      (sel) => (document.querySelector(sel) as HTMLProgressElement | null)?.value === 30,
      `${card("in-progress", task.id)} progress`,
    );
    expect(await page.locator(card("reserved", task.id)).count()).toBe(0);
    expect(await page.textContent("#reserved h2")).not.toContain("1");

    gates.get(task.id)!.open();
    await page.waitForSelector(`${card("finished", task.id)} [data-field="outcome"]`, { timeout: 20_000 });
    expect(await page.textContent(`${card("finished", task.id)} [data-field="outcome"]`)).toBe(
      "failed: Error: the disk is full",
    );
    expect(await page.locator(`${card("finished", task.id)} progress`).count()).toBe(0);
    expect(await bars()).not.toContain(100);
    await shot(page, "task-center-failed");
    expect(await sameDocument(page)).toBe(true);
  });

  it("a retry shows “attempt 1 of 4 failed: … — retrying in 4 s”, counting down, on the card and the detail page", async (ctx) => {
    needsChromium(ctx);
    const page = await login("bob");
    await markDocument(page);
    const task = await tl.tasks.enqueue(flaky, null, {
      description: "flaky feed",
      owner: "bob",
      queue: "probe",
    });
    const detail = await page.context().newPage();
    await detail.goto(`${server.url}/tasks/${task.id}`);
    await markDocument(detail);

    const retry = `${card("in-progress", task.id)} [data-field="retry"]`;
    await page.waitForSelector(retry, { timeout: 20_000 });
    const first = await page.textContent(retry);
    expect(first).toMatch(/^attempt 1 of 4 failed: Error: the feed is down — retrying in [1-4] s$/);
    await page.waitForFunction(
      ([sel, before]) => {
        const text = document.querySelector(sel!)?.textContent ?? "";
        return text !== before && /retrying (in [1-3] s|now)$/.test(text);
      },
      [retry, first],
    );
    await shot(page, "task-center-retry");
    await detail.waitForSelector('#summary [data-field="retry"]');
    await shot(detail, "task-detail-retry");
    expect(await detail.textContent('#summary [data-field="retry"]')).toMatch(
      /^attempt 1 of 4 failed: Error: the feed is down — retrying (in [1-4] s|now)$/,
    );
    expect(await detail.textContent("#log")).not.toContain("ENOTFOUND");

    // The second attempt succeeds: the line goes, the bar is full.
    await page.waitForSelector(`${card("finished", task.id)} [data-field="status"]:has-text("finished")`, {
      timeout: 20_000,
    });
    expect(await page.locator(`${card("finished", task.id)} [data-field="retry"]`).count()).toBe(0);
    expect(
      await page
        .locator(`${card("finished", task.id)} progress`)
        .evaluate((el) => (el as HTMLProgressElement).value),
    ).toBe(100);
    await detail.waitForSelector('#summary [data-field="status"]:has-text("finished")');
    expect(await detail.locator('#summary [data-field="retry"]').count()).toBe(0);
    expect(await detail.textContent("#log")).toContain("attempt 1: Failed for: Error: the feed is down");
    expect(await sameDocument(page)).toBe(true);
    expect(await sameDocument(detail)).toBe(true);
    await waitFor(async () => (await tl.tasks.get(task.id))?.attempts === 2, { message: "two attempts" });
  });
});
