// The build's steps around `tsc` (package.json "build"): `clean` empties dist/ so no file of a
// removed module lingers; `finish` copies the dashboard's static files and makes the CLI
// executable (tsc writes plain files, and `npx taskledger` in this checkout runs dist/cli/main.js).
import { chmodSync, cpSync, rmSync } from "node:fs";

const step = process.argv[2];
if (step === "clean") {
  rmSync("dist", { recursive: true, force: true });
} else if (step === "finish") {
  cpSync("src/dashboard/static", "dist/dashboard/static", { recursive: true });
  chmodSync("dist/cli/main.js", 0o755);
} else {
  console.error(`usage: node scripts/build.js clean|finish (got ${step ?? "nothing"})`);
  process.exit(2);
}
