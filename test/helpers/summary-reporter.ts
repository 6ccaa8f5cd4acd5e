import type { Reporter, TestModule } from "vitest/node";

/**
 * Prints one closing line, `tests: N passed, N failed, N skipped`, and enforces
 * TASKLEDGER_TEST_STRICT=1 (set by CI, where every service is installed): any skipped test then
 * fails the run, with the skipped tests' names and reasons listed.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    const skipped: string[] = [];
    for (const module of modules) {
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed++;
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === "passed") passed++;
        else if (result.state === "failed") failed++;
        else if (result.state === "skipped") {
          const note = "note" in result && result.note ? ` — ${result.note}` : "";
          skipped.push(`${module.moduleId.replace(`${process.cwd()}/`, "")} › ${test.fullName}${note}`);
        }
      }
    }
    const strict = process.env.TASKLEDGER_TEST_STRICT === "1";
    if (skipped.length > 0) {
      process.stdout.write(`\nSkipped tests${strict ? " (not allowed: TASKLEDGER_TEST_STRICT=1)" : ""}:\n`);
      for (const line of skipped) process.stdout.write(`  - ${line}\n`);
      if (strict) process.exitCode = 1;
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped.length} skipped\n`);
  }
}
