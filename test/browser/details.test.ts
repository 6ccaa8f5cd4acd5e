/// <reference lib="dom" />
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
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
  retry: { max: 3, delay: 6_000 },
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

/** The text an eye reads: without what is there for screen readers only. */
function seen(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (el) => {
    const copy = el.cloneNode(true) as Element;
    for (const hidden of copy.querySelectorAll(".sr-only")) hidden.remove();
    return copy.textContent ?? "";
  });
}

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

  it("a retry shows “attempt 1 of 4 failed: … — retrying in 6 s”, counting down, on the card and the detail page", async (ctx) => {
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
    const first = await seen(page, retry);
    expect(first).toMatch(/^attempt 1 of 4 failed: Error: the feed is down — retrying in [1-6] s$/);
    await detail.waitForSelector('#summary [data-field="retry"]');
    expect(await seen(detail, '#summary [data-field="retry"]')).toMatch(
      /^attempt 1 of 4 failed: Error: the feed is down — retrying in [1-6] s$/,
    );
    await shot(detail, "task-detail-retry");
    await page.waitForFunction(
      ([sel, before]) => {
        const text = document.querySelector(`${sel} time`)?.textContent ?? "";
        return !before!.endsWith(text) && /^(in [1-5] s|now)$/.test(text);
      },
      [retry, first],
    );
    await shot(page, "task-center-retry");
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

/** A local date-time `seconds` from now, as a datetime-local input takes it. */
function localTime(page: Page, seconds: number): Promise<string> {
  return page.evaluate((s) => {
    const d = new Date(Date.now() + s * 1000);
    const pad = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }, seconds);
}

async function submitMail(page: Page) {
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('#send-mail button[type="submit"]')]);
  return page.textContent(".flash");
}

describe("forms and their messages", () => {
  it("the mail form keeps its input after an error; “Send at” belongs to “Reserve for later”; an empty picker gets its own message", async (ctx) => {
    needsChromium(ctx);
    const page = await login("carol");
    const sendAt = '#send-mail input[name="scheduled_time"]';
    const reserve = '#send-mail input[name="is_scheduled"]';
    // In markup: the time is inside the fieldset whose legend is the box; on screen: inside its border, shown once ticked.
    expect(
      await page
        .locator('#send-mail fieldset:has(> legend input[name="is_scheduled"]) input[name="scheduled_time"]')
        .count(),
    ).toBe(1);
    expect(await page.isVisible(sendAt)).toBe(false);
    await page.check(reserve);
    expect(await page.isVisible(sendAt)).toBe(true);
    const group = (await page.locator("#send-mail fieldset").boundingBox())!;
    const field = (await page.locator(sendAt).boundingBox())!;
    expect(field.x).toBeGreaterThan(group.x);
    expect(field.y).toBeGreaterThan(group.y);
    expect(field.x + field.width).toBeLessThan(group.x + group.width);
    expect(field.y + field.height).toBeLessThan(group.y + group.height);
    await shot(page, "send-mail-reserve", false);

    await page.fill('#send-mail input[name="recipient"]', "carol@example.com");
    await page.selectOption('#send-mail select[name="template_name"]', "report");
    expect(await submitMail(page)).toBe("Pick a date and time to send at, or untick “Reserve for later”.");
    expect(await page.inputValue('#send-mail input[name="recipient"]')).toBe("carol@example.com");
    expect(await page.inputValue('#send-mail select[name="template_name"]')).toBe("report");
    expect(await page.isChecked(reserve)).toBe(true);

    // 4 s ahead: under the 5 s lead, and still ahead when the form is handled on a loaded machine.
    const soon = await localTime(page, 4);
    await page.fill(sendAt, soon);
    expect(await submitMail(page)).toBe("A reservation must be at least 5 seconds from now.");
    // The picker writes whole minutes without ":00".
    expect((await page.inputValue(sendAt)).replace(/:00$/, "")).toBe(soon.replace(/:00$/, ""));
    expect(await page.inputValue('#send-mail input[name="recipient"]')).toBe("carol@example.com");
    await shot(page, "send-mail-kept", false);

    await page.uncheck(reserve);
    await page.fill('#send-mail input[name="recipient"]', "carol@localhost");
    expect(await submitMail(page)).toBe("Enter a valid recipient address.");
    expect(await page.inputValue('#send-mail input[name="recipient"]')).toBe("carol@localhost");
    expect(await page.isChecked(reserve)).toBe(false);
    expect(await tl.tasks.list({ owner: "carol" })).toEqual([]);

    // What was kept is shown once.
    await page.reload();
    expect(await page.inputValue('#send-mail input[name="recipient"]')).toBe("");

    const visitor = await (await browser.newContext({ viewport: DESKTOP })).newPage();
    contexts.push(visitor.context());
    await visitor.goto(`${server.url}/login`);
    await visitor.fill('input[name="username"]', "carol smith");
    await Promise.all([visitor.waitForURL(/\/login\?next=/), visitor.click('form[action="/login"] button')]);
    expect(await visitor.textContent(".flash")).toBe(
      "A user name has 1 to 64 characters: letters, digits, and _ . @ - only.",
    );
    expect(await visitor.inputValue('input[name="username"]')).toBe("carol smith");
  });

  it("messages replace each other and read as sentences", async (ctx) => {
    needsChromium(ctx);
    const page = await login("dora");
    const ids: number[] = [];
    for (const n of [1, 2]) {
      const task = await tl.tasks.reserve(
        Date.now() + 3_600_000,
        held,
        {},
        {
          description: `reserved ${n}`,
          owner: "dora",
          queue: "probe",
        },
      );
      ids.push(task.id);
    }
    await page.reload();
    await markDocument(page);
    for (const id of ids) {
      await page.click(`${card("reserved", id)} button`);
      await page.waitForSelector(`.flash:has-text("Task #${id} (held) is canceled.")`);
      expect(await page.locator(".flashes > *").count()).toBe(1);
    }
    // A refusal from the server reads as a sentence too, and replaces the message before it.
    const third = await tl.tasks.reserve(
      Date.now() + 3_600_000,
      held,
      {},
      {
        description: "reserved 3",
        owner: "dora",
        queue: "probe",
      },
    );
    await page.waitForSelector(card("reserved", third.id));
    await page.$eval(`${card("reserved", third.id)} input[name="_csrf"]`, (input) => {
      (input as HTMLInputElement).value = "stale";
    });
    await page.click(`${card("reserved", third.id)} button`);
    await page.waitForSelector('.flash:has-text("The form has expired")');
    expect(await page.locator(".flashes > *").count()).toBe(1);
    expect(await page.textContent(".flash")).toBe(
      "The form has expired or came from another site: reload the page and try again.",
    );
    await shot(page, "flash-sentence", false);
    expect(await sameDocument(page)).toBe(true);
  });

  it("removing a schedule and its runs asks first — without script too", async (ctx) => {
    needsChromium(ctx);
    const schedule = await tl.schedules.schedule({
      key: "probe-tick",
      task: held,
      payload: {},
      description: "a probe every hour",
      every: 3_600_000,
      startAt: Date.now() + 3_600_000,
      queue: "probe",
    });
    const context = await browser.newContext({ viewport: DESKTOP, javaScriptEnabled: false });
    contexts.push(context);
    const admin = await context.newPage();
    await admin.goto(`${server.url}/login`);
    await admin.fill('input[name="username"]', "admin");
    await Promise.all([admin.waitForURL(`${server.url}/`), admin.click('form[action="/login"] button')]);
    await admin.goto(`${server.url}/admin/schedules`);
    const remove = `[data-schedule-id="${schedule.id}"] a:has-text("Remove")`;
    expect(await admin.getAttribute(remove, "href")).toBe(`/admin/schedules/${schedule.id}/remove`);

    await Promise.all([admin.waitForURL(/\/remove$/), admin.click(remove)]);
    expect(await admin.textContent("#confirm-remove p")).toBe(
      "Removing schedule probe-tick (every 1 h) deletes it with no runs. This cannot be undone.",
    );
    await shot(admin, "schedule-remove-confirm", false);
    await Promise.all([
      admin.waitForURL(`${server.url}/admin/schedules/${schedule.id}`),
      admin.click('a:has-text("Keep it")'),
    ]);
    expect(await tl.schedules.get(schedule.id)).toBeDefined();

    await Promise.all([admin.waitForURL(/\/remove$/), admin.click('#schedule a:has-text("Remove")')]);
    await Promise.all([
      admin.waitForURL(`${server.url}/admin/schedules`),
      admin.click('#confirm-remove button:has-text("Remove probe-tick")'),
    ]);
    expect(await admin.textContent(".flash")).toBe("Schedule probe-tick is removed, with no runs.");
    expect(await tl.schedules.get(schedule.id)).toBeUndefined();
  });
});

/** While the demo is down: its port answers 503 (a proxy's answer while the app restarts) until `until` holds. */
async function unavailable(port: number, until: (requests: string[]) => boolean) {
  const requests: string[] = [];
  const placeholder = createServer((req, res) => {
    requests.push(req.url ?? "");
    res.writeHead(503, { "content-type": "text/plain", "retry-after": "1" }).end("restarting");
  });
  await new Promise<void>((done) => placeholder.listen(port, "127.0.0.1", done));
  try {
    await waitFor(() => until(requests), { timeoutMs: 20_000, message: "the page to ask the placeholder" });
  } finally {
    placeholder.closeAllConnections();
    await new Promise<void>((done) => placeholder.close(() => done()));
  }
}

describe("the live stream across a server restart", () => {
  it("reconnects, even when the first answer after the restart is an error", async (ctx) => {
    needsChromium(ctx);
    const page = await login("erin");
    await page.waitForSelector("[data-live-status].is-live");
    await markDocument(page);
    await server.restart((port) =>
      unavailable(port, (requests) => requests.filter((r) => r.startsWith("/api/events")).length >= 1),
    );
    await page.waitForSelector("[data-live-status].is-live", { timeout: 30_000 });
    const task = await tl.tasks.enqueue(flaky, null, {
      description: "after the restart",
      owner: "erin",
      queue: "probe",
    });
    await page.waitForSelector(card("in-progress", task.id), { timeout: 20_000 });
    expect(await sameDocument(page)).toBe(true);
  });

  it("says “Session expired — log in again” when the restart ended the session, and logging in brings the page back", async (ctx) => {
    needsChromium(ctx);
    const page = await login("frank");
    await page.waitForSelector("[data-live-status].is-live");
    await server.restart(async () =>
      rmSync(join(server.dataDir, "sessions"), { recursive: true, force: true }),
    );
    await page.waitForSelector('.flash:has-text("Session expired")', { timeout: 30_000 });
    expect(await page.textContent(".flash")).toBe("Session expired — log in again.");
    expect(await page.textContent("[data-live-status]")).toBe("logged out");
    await shot(page, "session-expired", false);
    const again = page.locator('.flash a:has-text("log in again")');
    expect(await again.getAttribute("href")).toBe("/login?next=%2F");
    await Promise.all([page.waitForURL(/\/login\?next=/), again.click()]);
    await page.fill('input[name="username"]', "frank");
    await Promise.all([page.waitForURL(`${server.url}/`), page.click('form[action="/login"] button')]);
    await page.waitForSelector("[data-live-status].is-live");
  });
});

/** Chromium's own accessibility tree: role, name and live setting of every node. */
async function accessibilityTree(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send("Accessibility.getFullAXTree")) as {
      nodes: {
        ignored: boolean;
        role?: { value: string };
        name?: { value: string };
        properties?: { name: string; value: { value: unknown } }[];
      }[];
    };
    return nodes
      .filter((n) => !n.ignored)
      .map((n) => ({
        role: n.role?.value ?? "",
        name: n.name?.value ?? "",
        live: n.properties?.find((p) => p.name === "live")?.value.value,
      }));
  } finally {
    await cdp.detach();
  }
}

/** The WCAG contrast ratio of every element matching `selector`, from its computed colours. */
function contrasts(page: Page, selector: string) {
  return page.$$eval(selector, (elements) => {
    const parse = (color: string) => {
      const [r = 0, g = 0, b = 0, a = 1] = (color.match(/[\d.]+/g) ?? []).map(Number);
      return { r, g, b, a };
    };
    /** The colour behind an element: its own background over its ancestors'. */
    const backgroundOf = (el: Element | null): { r: number; g: number; b: number } => {
      if (!el) return { r: 255, g: 255, b: 255 };
      const own = parse(getComputedStyle(el).backgroundColor);
      if (own.a >= 1) return own;
      const under = backgroundOf(el.parentElement);
      const mix = (c: "r" | "g" | "b") => own[c] * own.a + under[c] * (1 - own.a);
      return { r: mix("r"), g: mix("g"), b: mix("b") };
    };
    const luminance = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const linear = (c: number) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    return elements.map((el) => {
      const fg = luminance(parse(getComputedStyle(el).color));
      const bg = luminance(backgroundOf(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      return { text: el.textContent?.trim() ?? "", ratio: Math.round(ratio * 100) / 100 };
    });
  });
}

const noHorizontalScroll = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

describe("accessibility and phones", () => {
  it("names every control and region, announces the live lists, keeps badges readable (4.5:1) and offers a skip link", async (ctx) => {
    needsChromium(ctx);
    const page = await login("gina");
    const running = await tl.tasks.enqueue(
      held,
      {},
      { description: "running", owner: "gina", queue: "probe" },
    );
    gates.set(running.id, gate());
    const failed = await tl.tasks.enqueue(
      held,
      { fail: true },
      { description: "fails", owner: "gina", queue: "probe" },
    );
    gates.set(failed.id, gate());
    gates.get(failed.id)!.open();
    const reserved = await tl.tasks.reserve(
      Date.now() + 3_600_000,
      held,
      {},
      {
        description: "later",
        owner: "gina",
        queue: "probe",
      },
    );
    await page.waitForSelector(`${card("finished", failed.id)} [data-field="outcome"]`, { timeout: 20_000 });
    await page.waitForSelector(
      `${card("in-progress", running.id)} [data-field="status"]:has-text("running")`,
    );
    await page.reload();

    const tree = await accessibilityTree(page);
    const has = (role: string, name: string) =>
      expect(
        tree.some((n) => n.role === role && n.name === name),
        `${role} "${name}"`,
      ).toBe(true);
    has("button", `Cancel task #${running.id} held`);
    has("button", `Cancel task #${reserved.id} held`);
    has("progressbar", `Progress of task #${running.id} held`);
    has("link", "Skip to content");
    has("main", "");
    has("navigation", "Pages");
    for (const name of ["In progress 1", "Reserved 1", "Last finished", "Notifications"]) has("region", name);
    for (const name of ["In progress 1", "Reserved 1", "Last finished"]) {
      expect(tree.find((n) => n.role === "region" && n.name === name)?.live, name).toBe("polite");
    }
    // A cancel button reads the same where it is only "Cancel" on screen.
    expect(await seen(page, `${card("in-progress", running.id)} button`)).toBe("Cancel");

    // The skip link: the first stop of the keyboard, shown when focused; it leads to the content.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    const skip = (await page.locator(".skip-link").boundingBox())!;
    expect(skip.y).toBeGreaterThanOrEqual(0);
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");

    // Every badge (the admin page shows one of each status) and message, in light and dark.
    const admin = await login("admin");
    await admin.goto(`${server.url}/admin?owner=gina`);
    for (const scheme of ["light", "dark"] as const) {
      for (const p of [page, admin]) {
        await p.emulateMedia({ colorScheme: scheme });
        const ratios = await contrasts(p, ".badge, .flash, .task-note, .tag");
        for (const { text, ratio } of ratios)
          expect(ratio, `${scheme}: "${text}"`).toBeGreaterThanOrEqual(4.5);
      }
    }
    const statuses = (await contrasts(admin, ".badge")).map((r) => r.text.toLowerCase());
    for (const status of ["reserved", "queued", "running", "finished", "failed", "canceled"])
      expect(statuses).toContain(status);

    // When a task moves, its lists stay in place and only what changed is replaced: a live region
    // announces changes to itself, and a card that did not change is not read out again.
    await page.evaluate(
      ([reservedCard]) => {
        for (const id of ["in-progress", "finished"])
          Object.assign(document.getElementById(id)!, { __kept: true });
        Object.assign(document.querySelector(reservedCard!)!, { __kept: true });
      },
      [card("reserved", reserved.id)],
    );
    gates.get(running.id)!.open();
    await page.waitForSelector(card("finished", running.id));
    expect(
      await page.evaluate(
        ([reservedCard]) =>
          [
            document.getElementById("in-progress"),
            document.getElementById("finished"),
            document.querySelector(reservedCard!),
          ].map((el) => (el as unknown as { __kept?: boolean } | null)?.__kept === true),
        [card("reserved", reserved.id)],
      ),
    ).toEqual([true, true, true]);
  });

  it("on a 390 px phone: the lists above the forms, admin tables as cards, no page scrolls sideways", async (ctx) => {
    needsChromium(ctx);
    const desk = await login("hana");
    const phone = await login("hana", PHONE);
    const task = await tl.tasks.enqueue(
      held,
      {},
      { description: "a long description that wraps on a phone screen", owner: "hana", queue: "probe" },
    );
    gates.set(task.id, gate());
    const top = (p: Page, sel: string) => p.locator(sel).evaluate((el) => el.getBoundingClientRect().top);
    await desk.reload();
    expect(await top(desk, "#send-mail")).toBeLessThan(await top(desk, "#in-progress"));
    await phone.reload();
    await phone.waitForSelector(card("in-progress", task.id));
    for (const list of ["#in-progress", "#reserved", "#finished", "#notifications"])
      expect(await top(phone, list), list).toBeLessThan(await top(phone, "#send-mail"));
    expect(await noHorizontalScroll(phone)).toBeLessThanOrEqual(0);
    await shot(phone, "phone-task-center");

    const admin = await login("admin", PHONE);
    for (const path of ["/admin", "/admin/schedules", `/tasks/${task.id}`, "/mailbox", "/images"]) {
      await admin.goto(`${server.url}${path}`);
      expect(await noHorizontalScroll(admin), path).toBeLessThanOrEqual(0);
    }
    await admin.goto(`${server.url}/admin`);
    const row = `#task-table tr[data-task-id="${task.id}"]`;
    expect(await admin.locator(row).evaluate((el) => getComputedStyle(el).display)).toBe("block");
    expect((await admin.locator("#task-table thead").boundingBox())!.height).toBeLessThanOrEqual(1);
    const labels = await admin
      .locator(`${row} td`)
      .evaluateAll((cells) => cells.map((td) => getComputedStyle(td, "::before").content));
    expect(labels).toEqual(
      expect.arrayContaining(['"Owner"', '"Queue"', '"Status"', '"Progress"', '"Created"']),
    );
    const box = (await admin.locator(row).boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
    await shot(admin, "phone-admin");
    gates.get(task.id)!.open();
  });
});
