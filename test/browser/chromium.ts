import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/**
 * Real Chromium (Debian's `chromium` package) driven by playwright-core. Where it is missing the
 * browser suites skip, saying why — unless TASKLEDGER_TEST_STRICT=1 (CI), where they fail.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const STRICT = process.env.TASKLEDGER_TEST_STRICT === "1";
export const MISSING = existsSync(CHROMIUM)
  ? undefined
  : `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

if (MISSING && !STRICT) process.stderr.write(`\n*** browser tests skipped: ${MISSING} ***\n\n`);

export function launchBrowser(): Promise<Browser> {
  if (MISSING) throw new Error(`${MISSING}; TASKLEDGER_TEST_STRICT=1 forbids skipping the browser tests`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** `it`'s first argument: skip (with the reason) when Chromium is missing and skipping is allowed. */
export function needsChromium(ctx: { skip: (note?: string) => void }): void {
  if (MISSING && !STRICT) ctx.skip(MISSING);
}
