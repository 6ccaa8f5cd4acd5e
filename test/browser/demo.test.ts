/// <reference lib="dom" />
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskledger, defineTask, type Taskledger, type Worker } from "../../src/index.js";
import { waitFor } from "../helpers/index.js";
import { type AuxServer, startAux } from "./aux-server.js";
import { launchBrowser, MISSING, needsChromium, STRICT } from "./chromium.js";
import { type DemoServer, startDemo } from "./demo-server.js";

/**
 * The seeds' flows in real Chromium against `taskledger start` serving the mailer demo: log in,
 * send a mail and watch it, reserve and cancel, cancel a running image set, user isolation,
 * escaping, cross-site refusal. Screenshots of the main pages go to test-results/screenshots/
 * (or TASKLEDGER_SCREENSHOTS, e.g. `TASKLEDGER_SCREENSHOTS=docs/screenshots npm test` to refresh
 * the ones the README shows).
 */
const LEAD_SECONDS = 5;
const SCREENSHOTS = resolve(process.env.TASKLEDGER_SCREENSHOTS ?? "test-results/screenshots");
const XSS = [
  `<script>window.__xss = "script"</script>`,
  `<img src=x onerror="window.__xss = 'img'">`,
  `"><svg onload="window.__xss = 'svg'">`,
  `</script><script>window.__xss = "json"</script>`,
];

/** Probes that run in this test process (queue "probe", which the demo's worker does not serve). */
const xssProbe = defineTask({
  name: "xss_probe",
  retry: 0,
  async run(payload: { fail?: boolean; xss?: string[] }, ctx) {
    await ctx.setProgress(50, { note: XSS.join(" ") });
    if (payload.fail) throw new Error(`probe failed: ${XSS.join(" ")}`);
    return { html: XSS, nested: { "</script>": XSS[3] } };
  },
});
const idle = defineTask({ name: "idle", run: () => null });

let server: DemoServer;
let aux: AuxServer;
let browser: Browser;
let tl: Taskledger;
let probes: Worker;
const consoleErrors: string[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (MISSING && !STRICT) return;
  aux = await startAux();
  server = await startDemo({
    MAILER_STEP_MS: "500",
    MAILER_RESERVATION_LEAD_SECONDS: String(LEAD_SECONDS),
    RSS_FEED_URL: `http://127.0.0.1:${aux.port}/feed.xml`,
  });
  browser = await launchBrowser();
  tl = createTaskledger({
    database: server.database,
    tasks: [xssProbe, idle],
    queues: ["probe"],
    pollIntervalMs: 50,
  });
  probes = tl.createWorker({ queues: ["probe"], concurrency: 2 });
  await probes.start();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await probes?.stop();
  await tl?.close();
  await server?.stop();
  await aux?.close();
});

async function login(user: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: viewport.width < 600 ? 2 : 1 });
  contexts.push(context);
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${user}: ${message.text()}`);
  });
  page.on("dialog", (dialog) => {
    consoleErrors.push(`${user}: a dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(`${server.url}/`);
  expect(new URL(page.url()).pathname).toBe("/login");
  await page.fill('input[name="username"]', user);
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('form[action="/login"] button')]);
  expect(await page.textContent(".user")).toContain(user);
  return page;
}

/** The flash shown after a form, and the task id it names. */
async function flash(page: Page, kind: "success" | "danger"): Promise<{ text: string; id: number }> {
  const text = (await page.locator(`.flash-${kind}`).first().textContent()) ?? "";
  return { text, id: Number(/#(\d+)/.exec(text)?.[1] ?? Number.NaN) };
}

/** A local date-time `seconds` from now, as the browser's datetime-local input takes it. */
function localTime(page: Page, seconds: number): Promise<string> {
  return page.evaluate((s) => {
    const d = new Date(Date.now() + s * 1000);
    const pad = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }, seconds);
}

async function sendMail(page: Page, recipient: string, reserveIn?: number | "") {
  await page.fill('#send-mail input[name="recipient"]', recipient);
  if (reserveIn !== undefined) {
    await page.check('#send-mail input[name="is_scheduled"]');
    await page.fill(
      '#send-mail input[name="scheduled_time"]',
      reserveIn === "" ? "" : await localTime(page, reserveIn),
    );
  }
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('#send-mail button[type="submit"]')]);
}

const item = (section: string, id: number) => `#${section} [data-task-id="${id}"]`;

function mailboxFiles(): string[] {
  try {
    return readdirSync(join(server.dataDir, "mailbox"))
      .filter((name) => name.endsWith(".eml"))
      .map((name) => readFileSync(join(server.dataDir, "mailbox", name), "utf8"));
  } catch {
    return [];
  }
}

async function shot(page: Page, name: string, fullPage = true) {
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

/** A picture worth making thumbnails of: a sky, a sun and hills. */
function landscape(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="1000">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3056d3"/><stop offset="1" stop-color="#f8b26a"/></linearGradient></defs>
    <rect width="1600" height="1000" fill="url(#sky)"/>
    <circle cx="1150" cy="420" r="120" fill="#ffd166"/>
    <path d="M0 760 Q 300 560 600 740 T 1200 700 T 1600 720 V 1000 H 0 Z" fill="#2f9e44"/>
    <path d="M0 860 Q 400 720 800 860 T 1600 840 V 1000 H 0 Z" fill="#1b6e33"/>
  </svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

describe("the mailer demo in Chromium", () => {
  it("shows the login page with a CSP and no inline script", async (ctx) => {
    needsChromium(ctx);
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    contexts.push(context);
    const page = await context.newPage();
    const response = await page.goto(`${server.url}/login`);
    const csp = response!.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(await page.locator("script:not([src])").count()).toBe(0);
    await shot(page, "login");
  });

  it("sends a mail now: the progress bar moves to 100 without a reload, and the mail arrives with its attachment", async (ctx) => {
    needsChromium(ctx);
    const page = await login("alice");
    await sendMail(page, "bob@example.com");
    const { text, id } = await flash(page, "success");
    expect(text).toContain("Sending the welcome mail to bob@example.com");
    await page.evaluate(() => Object.assign(window, { __sameDocument: true }));

    const seen = new Set<number>();
    await waitFor(
      async () => {
        const now = await page.evaluate((id) => {
          const bar = document.querySelector(`[data-task-id="${id}"] progress`) as HTMLProgressElement | null;
          const status = document.querySelector(`#finished [data-task-id="${id}"] [data-field="status"]`);
          return { value: bar?.value, finished: status?.textContent === "finished" };
        }, id);
        if (typeof now.value === "number") seen.add(now.value);
        return now.finished;
      },
      { timeoutMs: 30_000, message: "the mail task to finish on the page" },
    );
    expect(
      await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument),
    ).toBe(true);
    expect(
      [...seen].some((v) => v > 0 && v < 100),
      `progress seen: ${[...seen]}`,
    ).toBe(true);
    expect(
      await page
        .locator(`${item("finished", id)} progress`)
        .evaluate((el) => (el as HTMLProgressElement).value),
    ).toBe(100);
    expect(await page.locator(`${item("finished", id)} [data-field="progress-label"]`).textContent()).toBe(
      "100%",
    );
    await page.waitForSelector(`[data-feed] [data-note-id]`);
    await shot(page, "task-center");

    const mails = mailboxFiles().filter((m) => m.includes("bob@example.com"));
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatch(/Content-Type: image\/png/i);
    expect(mails[0]).toContain("taskledger.png");

    await Promise.all([page.waitForURL(`${server.url}/mailbox`), page.click('nav a[href="/mailbox"]')]);
    await Promise.all([
      page.waitForURL(/\/mailbox\/[\w-]+$/),
      page.click('a:has-text("Welcome to taskledger")'),
    ]);
    expect(await page.textContent(".attachments")).toContain("taskledger.png · image/png");
    const frame = page.frameLocator("iframe.mail-frame");
    await expect.poll(() => frame.locator('img[src^="data:image/png"]').count()).toBe(1);
    expect(await frame.locator("h1").textContent()).toBe("Welcome, alice!");
    await shot(page, "mailbox-message");

    await page.goto(`${server.url}/tasks/${id}`);
    expect(await page.textContent("#result")).toContain('"result": "success"');
    await shot(page, "task-detail");
  });

  it("reserves a mail, lists it in time order and cancels it: it never sends; too soon or a bad time is refused with a message", async (ctx) => {
    needsChromium(ctx);
    const page = await login("carol");
    await sendMail(page, "canceled@example.com", LEAD_SECONDS + 4);
    const canceled = await flash(page, "success");
    expect(canceled.text).toContain("The welcome mail to canceled@example.com is reserved for");
    await sendMail(page, "control@example.com", LEAD_SECONDS + 6);
    const control = await flash(page, "success");
    const order = await page
      .locator("#reserved [data-task-id]")
      .evaluateAll((els) => els.map((el) => Number((el as HTMLElement).dataset.taskId)));
    expect(order).toEqual([canceled.id, control.id]);
    await shot(page, "reserved");

    await page.click(`${item("reserved", canceled.id)} button`);
    await page.waitForSelector(`text=Task #${canceled.id} (send_async_mail) is canceled.`);
    await page.waitForSelector(`${item("finished", canceled.id)} .status-canceled`);
    expect(await page.locator(item("reserved", canceled.id)).count()).toBe(0);

    // The control, due after the canceled one, is sent: by then the canceled one's time has passed.
    await waitFor(async () => (await tl.tasks.get(control.id))?.status === "finished", {
      timeoutMs: 40_000,
      message: "the control reservation to be sent",
    });
    const task = await tl.tasks.get(canceled.id);
    expect(task).toMatchObject({ status: "canceled", failed: true, attempts: 0, startedAt: null });
    expect(mailboxFiles().some((m) => m.includes("control@example.com"))).toBe(true);
    expect(mailboxFiles().some((m) => m.includes("canceled@example.com"))).toBe(false);

    const before = (await tl.tasks.list({ owner: "carol", limit: 200 })).length;
    // Inside the lead time with seconds to spare: a slow machine must not turn "too soon" into "in the past".
    await sendMail(page, "soon@example.com", LEAD_SECONDS - 1);
    expect((await flash(page, "danger")).text).toBe(
      `A reservation must be at least ${LEAD_SECONDS} seconds from now.`,
    );
    await shot(page, "reserve-too-soon");
    await sendMail(page, "noformat@example.com", "");
    expect((await flash(page, "danger")).text).toBe(
      "Pick a date and time to send at, or untick “Reserve for later”.",
    );
    expect((await tl.tasks.list({ owner: "carol", limit: 200 })).length).toBe(before);
  });

  it("cancels a running image set: it ends canceled and the page says so", async (ctx) => {
    needsChromium(ctx);
    const page = await login("dave");
    const image = await landscape();
    await page.setInputFiles('#image-set input[type="file"]', {
      name: "sky.png",
      mimeType: "image/png",
      buffer: image,
    });
    await Promise.all([page.waitForURL(`${server.url}/`), page.click('#image-set button[type="submit"]')]);
    const { text, id } = await flash(page, "success");
    expect(text).toContain("Building the image set of sky.png");
    await page.waitForFunction(
      (sel) => Number((document.querySelector(`${sel} progress`) as HTMLProgressElement | null)?.value) > 0,
      item("in-progress", id),
    );
    expect(await page.textContent(`${item("in-progress", id)} [data-field="status"]`)).toBe("running");
    await page.click(`${item("in-progress", id)} button`);
    await page.waitForSelector(`text=is stopping: its cancel was requested`);
    await page.waitForSelector(`${item("finished", id)} .status-canceled`, { timeout: 20_000 });
    expect(await page.textContent(`${item("finished", id)} [data-field="status"]`)).toBe("canceled");
    const task = await tl.tasks.get(id);
    expect(task?.status).toBe("canceled");
    expect(readdirSync(join(server.dataDir, "image-sets"))).not.toContain(String(id));

    await page.goto(`${server.url}/tasks/${id}`);
    expect(await page.textContent("#summary [data-field='status']")).toBe("canceled");
    expect(await page.textContent("#log")).toMatch(/cancel/i);

    // a second image runs to the end: its thumbnails show on the image sets page
    await page.goto(`${server.url}/`);
    await page.setInputFiles('#image-set input[type="file"]', {
      name: "sky.png",
      mimeType: "image/png",
      buffer: image,
    });
    await Promise.all([page.waitForURL(`${server.url}/`), page.click('#image-set button[type="submit"]')]);
    const done = await flash(page, "success");
    await page.goto(`${server.url}/images`);
    await page.waitForSelector(`.image-set:has([data-task-id="${done.id}"]) .thumbs img`, {
      timeout: 30_000,
    });
    await page.waitForFunction(() =>
      [...document.images].every((img) => img.complete && img.naturalWidth > 0),
    );
    await shot(page, "image-sets");
  });

  it("isolates users: B sees none of A's tasks in lists, details, the API or the event stream", async (ctx) => {
    needsChromium(ctx);
    const alice = await login("alice");
    const bob = await login("bob");
    const alices = await tl.tasks.list({ owner: "alice", limit: 200 });
    expect(alices.length).toBeGreaterThan(0);

    for (const task of alices) expect(await bob.locator(`[data-task-id="${task.id}"]`).count()).toBe(0);
    const detail = await bob.goto(`${server.url}/tasks/${alices[0]!.id}`);
    expect(detail!.status()).toBe(404);
    const api = await bob.request.get(`${server.url}/api/tasks/${alices[0]!.id}`);
    expect(api.status()).toBe(404);
    const list = await (await bob.request.get(`${server.url}/api/tasks?limit=200`)).json();
    expect(list.tasks.every((t: { owner: string }) => t.owner === "bob")).toBe(true);
    const reserved = await tl.tasks.reserve(Date.now() + 3_600_000, idle, null, {
      description: "alice's",
      owner: "alice",
      queue: "probe",
    });
    const cancel = await bob.request.post(`${server.url}/api/tasks/${reserved.id}/cancel`);
    expect(cancel.status()).toBe(404);
    expect((await tl.tasks.get(reserved.id))?.status).toBe("reserved");
    const mailbox = await bob.goto(`${server.url}/mailbox`);
    expect(mailbox!.status()).toBe(200);
    expect(await bob.locator('a:has-text("Welcome to taskledger")').count()).toBe(0);

    // Bob's event stream, from the start: Alice's task runs, then Bob's; Bob sees only his.
    await bob.goto(`${server.url}/`);
    await bob.evaluate(() => {
      const events: { owner: string; taskId: number; name: string }[] = [];
      Object.assign(window, { __events: events });
      new EventSource("/api/events?after=0").onmessage = (e) => events.push(JSON.parse(e.data));
    });
    await alice.goto(`${server.url}/`);
    await alice.fill('#count-words textarea[name="source"]', "alice counts these words");
    await Promise.all([
      alice.waitForURL(`${server.url}/`),
      alice.click('#count-words button[type="submit"]'),
    ]);
    const aliceTask = (await flash(alice, "success")).id;
    await waitFor(async () => (await tl.tasks.get(aliceTask))?.status === "finished", {
      message: "alice's task",
    });
    const bobForm = await bob.context().newPage();
    await bobForm.goto(`${server.url}/`);
    await bobForm.fill('#count-words textarea[name="source"]', "bob counts his own");
    await Promise.all([
      bobForm.waitForURL(`${server.url}/`),
      bobForm.click('#count-words button[type="submit"]'),
    ]);
    const bobTask = (await flash(bobForm, "success")).id;
    await bob.waitForSelector(`${item("finished", bobTask)} .status-finished`);
    const events = await bob.evaluate(
      () => (window as unknown as { __events: { owner: string; taskId: number }[] }).__events,
    );
    expect(events.some((e) => e.taskId === bobTask)).toBe(true);
    expect(events.every((e) => e.owner === "bob")).toBe(true);
    expect(events.some((e) => e.taskId === aliceTask)).toBe(false);
    expect(await bob.locator(`[data-task-id="${aliceTask}"]`).count()).toBe(0);
  });

  it("renders XSS payloads in description, payload, result, log and live events as text; no script runs", async (ctx) => {
    needsChromium(ctx);
    const page = await login("alice");
    const admin = await login("admin");
    const description = XSS.join(" ");
    const ok = await tl.tasks.enqueue(
      xssProbe,
      { xss: XSS },
      { description, owner: "alice", queue: "probe" },
    );
    const bad = await tl.tasks.enqueue(
      xssProbe,
      { fail: true },
      { description, owner: "alice", queue: "probe" },
    );
    await waitFor(
      async () =>
        (await tl.tasks.get(bad.id))?.status === "finished" &&
        (await tl.tasks.get(ok.id))?.status === "finished",
      {
        message: "the probes to finish",
      },
    );
    await page.waitForSelector(`${item("finished", bad.id)} .status-failed`);
    const pages = [
      [page, "/"],
      [page, `/tasks/${ok.id}`],
      [page, `/tasks/${bad.id}`],
      [admin, "/admin?owner=alice"],
    ] as const;
    for (const [p, path] of pages) {
      await p.goto(`${server.url}${path}`);
      const text = (await p.textContent("main")) ?? "";
      expect(text, path).toContain(XSS[0]);
      expect(await p.locator("main svg, main img[onerror], main script").count(), path).toBe(0);
      expect(await p.evaluate(() => (window as unknown as { __xss?: string }).__xss), path).toBeUndefined();
    }
    expect(await page.textContent("#log")).toContain(`probe failed: ${XSS.join(" ")}`);
    await page.goto(`${server.url}/tasks/${ok.id}`);
    expect(await page.textContent("#result")).toContain('"</script>"');
    expect(await page.textContent("#payload")).toContain(JSON.stringify(XSS[2]));
    expect(consoleErrors.filter((e) => /Content Security Policy|dialog/.test(e))).toEqual([]);
  });

  for (const [label, host] of [
    ["same-site (another port)", "127.0.0.1"],
    ["cross-site", "localhost"],
  ] as const) {
    it(`refuses a ${label} POST to cancel, and nothing changes`, async (ctx) => {
      needsChromium(ctx);
      const page = await login("alice");
      const task = await tl.tasks.reserve(Date.now() + 3_600_000, idle, null, {
        description: "keep me",
        owner: "alice",
        queue: "probe",
      });
      const target = encodeURIComponent(server.url);
      await page.goto(`http://${host}:${aux.port}/evil?target=${target}&task=${task.id}`);
      await Promise.all([page.waitForURL(`${server.url}/tasks/${task.id}/cancel`), page.click("#claim")]);
      expect(await page.textContent("main")).toContain("cross-site request refused");
      expect((await tl.tasks.get(task.id))?.status).toBe("reserved");
      await page.goto(`http://${host}:${aux.port}/evil?target=${target}&task=${task.id}`);
      expect(
        await page.evaluate(() => (window as unknown as { fireApi: () => Promise<string> }).fireApi()),
      ).toBe("sent");
      expect((await tl.tasks.get(task.id))?.status).toBe("reserved");
    });
  }

  it("shows the admin views: all tasks with filters, workers, queues, schedules with their runs; and a phone layout", async (ctx) => {
    needsChromium(ctx);
    const admin = await login("admin");
    await admin.goto(`${server.url}/admin`);
    expect(await admin.locator("#workers tbody tr").count()).toBeGreaterThan(0);
    expect(await admin.locator("#queues tbody tr").count()).toBeGreaterThan(0);
    expect(await admin.locator("#task-table [data-task-id]").count()).toBeGreaterThan(0);
    await admin.selectOption('select[name="status"]', "canceled");
    await Promise.all([admin.waitForURL(/status=canceled/), admin.click('.filters button[type="submit"]')]);
    const statuses = await admin.locator('#task-table [data-field="status"]').allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(["canceled"]));
    await admin.goto(`${server.url}/admin`);
    await shot(admin, "admin-tasks");

    await admin.goto(`${server.url}/admin/schedules`);
    await admin.waitForSelector('#schedules a:has-text("fetch-rss")');
    await waitFor(
      async () => (await tl.tasks.list({ name: "fetch_rss", status: "finished", limit: 1 })).length > 0,
      {
        message: "a fetch_rss run",
      },
    );
    await Promise.all([
      admin.waitForURL(/\/admin\/schedules\/\d+$/),
      admin.click('#schedules a:has-text("fetch-rss")'),
    ]);
    await admin.waitForSelector("#runs [data-task-id] .status-finished");
    await shot(admin, "schedule");
    await admin.click('button:has-text("Pause")');
    await admin.waitForSelector("text=Schedule fetch-rss is paused.");
    expect(await admin.textContent("#schedule .badge")).toBe("paused");
    await admin.click('button:has-text("Resume")');
    await admin.waitForSelector("text=fires again");
    await admin.goto(`${server.url}/admin/schedules`);
    await shot(admin, "schedules");

    // A user with work in every list, on a desktop and on a phone, while a task runs.
    const desk = await login("erin");
    await sendMail(desk, "later@example.com", 600);
    await sendMail(desk, "now@example.com");
    await desk.waitForSelector('#finished [data-field="status"]:has-text("finished")', { timeout: 20_000 });
    await desk.setInputFiles('#image-set input[type="file"]', {
      name: "hills.png",
      mimeType: "image/png",
      buffer: await landscape(),
    });
    await Promise.all([desk.waitForURL(`${server.url}/`), desk.click('#image-set button[type="submit"]')]);
    const running = (await flash(desk, "success")).id;
    await desk.waitForFunction(
      (sel) => Number((document.querySelector(`${sel} progress`) as HTMLProgressElement | null)?.value) >= 30,
      item("in-progress", running),
    );
    await shot(desk, "task-center-live");
    const phone = await desk
      .context()
      .browser()!
      .newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    contexts.push(phone);
    await phone.addCookies(await desk.context().cookies());
    const mobile = await phone.newPage();
    await mobile.goto(`${server.url}/`);
    const overflow = await mobile.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await mobile.evaluate(() => document.querySelector("#in-progress")?.scrollIntoView());
    await shot(mobile, "phone-task-center", false);
  });
});
