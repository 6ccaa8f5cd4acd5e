import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { startServices, stopServices } from "./services.js";

/**
 * Tests run against the built package (dist/), as users do: `npm test` builds first.
 *
 * Then Redis, PostgreSQL and MariaDB start as plain processes for the whole run, in parallel
 * (< 1 s here; `services.ts`), and the test files get their URLs, or why one is missing, from
 * `inject("services")` (`dialects.ts`). The teardown stops every one of them by PID, including
 * servers a test restarted, and removes their folder.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(resolve("dist/index.js"))) {
    throw new Error("dist/ is missing: run `npm run build` (npm test does it for you)");
  }
  const services = await startServices();
  project.provide("services", services);
  return () => stopServices(services.root);
}
