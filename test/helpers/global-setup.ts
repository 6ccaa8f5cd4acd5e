import { existsSync } from "node:fs";
import { resolve } from "node:path";

/** Tests run against the built package (dist/), as users do: `npm test` builds first. */
export default function setup(): void {
  if (!existsSync(resolve("dist/index.js"))) {
    throw new Error("dist/ is missing: run `npm run build` (npm test does it for you)");
  }
}
