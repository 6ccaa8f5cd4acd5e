import { describe, expect, it } from "vitest";
import { createDashboardHandler } from "../../src/dashboard/index.js";
import { defineTask, type ScheduleEntry } from "../../src/index.js";
import { runtimeOf } from "../../src/internals.js";
import { run, writeGatedConfig } from "../cli/cli.js";
import { eachDialect, openLedger } from "../flow/fixture.js";
import { tempDir } from "../helpers/index.js";
import { ORIGIN, testAuthenticate } from "../http/client.js";
import { MINUTE } from "./fixture.js";

/**
 * A schedule's status is stored as one word (`running`, `failed`, `death`); wherever one is shown
 * — `taskledger schedules list`, the dashboard's schedules pages — its meaning is shown beside it.
 */
const echo = defineTask({ name: "echo", run: (payload: unknown) => payload });
const entry = (key: string): ScheduleEntry => ({
  key,
  task: echo,
  description: `${key} hourly`,
  every: 60 * MINUTE,
});

async function oneOfEach() {
  const fixture = openLedger({ tasks: [echo] });
  const { tl } = fixture;
  await tl.schedules.register(["active", "failing", "dropped", "resting"].map(entry));
  await tl.schedules.register(["active", "failing", "resting"].map(entry)); // "dropped" → death
  await tl.schedules.pause("resting");
  await runtimeOf(tl)
    .db.updateTable("scheduled_tasks")
    .set({ status: "failed" })
    .where("key", "=", "failing")
    .execute();
  return fixture;
}

const MEANINGS = {
  active: "running — active",
  failing: "failed — its last run failed; still scheduled",
  dropped: "death — no longer declared in code; will not run",
  resting: "paused — will not run until resumed",
};

eachDialect(() => {
  describe("a schedule's status, in words", () => {
    it("taskledger schedules list shows each status with what it means", async () => {
      const { url } = await oneOfEach();
      const dir = tempDir("tl-status-words-");
      writeGatedConfig(dir);
      const listed = await run(["schedules", "list"], { cwd: dir, database: url });
      expect(listed.code, listed.stderr).toBe(0);
      for (const [key, meaning] of Object.entries(MEANINGS)) {
        const line = listed.stdout.split("\n").find((l) => l.includes(` ${key} `));
        expect(line, listed.stdout).toContain(meaning);
      }
    });

    it("the dashboard's schedules pages show each status with what it means", async () => {
      const { tl } = await oneOfEach();
      const dashboard = createDashboardHandler(tl, { authenticate: testAuthenticate });
      const get = async (path: string) =>
        (await dashboard(new Request(`${ORIGIN}${path}`, { headers: { "x-test-user": "root" } }))).text();
      const list = (await get("/admin/schedules")).replace(/\s+/g, " ");
      for (const [key, meaning] of Object.entries(MEANINGS)) {
        const [status, words] = meaning.split(" — ") as [string, string];
        const row = list.slice(list.indexOf(`>${key}</a>`));
        expect(row.slice(0, row.indexOf("</tr>"))).toContain(
          `>${status}</span><div class="muted small">${words}</div>`,
        );
      }
      const dropped = (await tl.schedules.get("dropped"))!;
      expect((await get(`/admin/schedules/${dropped.id}`)).replace(/\s+/g, " ")).toContain(
        `<dt>Status</dt><dd>${MEANINGS.dropped}</dd>`,
      );
      dashboard.close();
    });
  });
});
