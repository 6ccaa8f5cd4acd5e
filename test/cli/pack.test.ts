import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tableCounts } from "../helpers/index.js";
import { type Finished, REPO, spawnProcess, untilOutput } from "./cli.js";

/**
 * The package as users get it: `npm pack` of the repo, installed into a fresh project with
 * `npm install <tarball>`, then used from TypeScript, from an ESM script and through `npx`.
 * One install serves the whole file. The mailer demo is a package of its own (examples/mailer,
 * a workspace of the repo): neither its files nor its dependencies reach a user's app.
 */
let work: string;
let project: string;
let packed: { filename: string; files: { path: string }[] };

/** Run a command as from a user's shell: without the npm_* variables of the `npm test` that runs us. */
function sh(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Finished> {
  const npmVariables = Object.keys(process.env).filter((key) => key.toLowerCase().startsWith("npm_"));
  const clean = Object.fromEntries(npmVariables.map((key) => [key, undefined]));
  return spawnProcess(command, args, { cwd, database: null, env: { ...clean, ...env } }).done;
}

function ok(result: Finished, what: string): Finished {
  if (result.code !== 0)
    throw new Error(`${what} exited ${result.code ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/**
 * Hand the repo's own build of better-sqlite3 to its installer (prebuild-install's local
 * prebuilds), so the install needs no network and no compiler. When the versions differ the
 * name does not match and the installer builds it as usual.
 */
async function localPrebuild(dir: string): Promise<NodeJS.ProcessEnv> {
  const pkg = join(REPO, "node_modules", "better-sqlite3");
  const binary = join(pkg, "build", "Release", "better_sqlite3.node");
  if (!existsSync(binary)) return {};
  const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { version: string };
  const stage = join(dir, "stage");
  mkdirSync(join(stage, "build", "Release"), { recursive: true });
  copyFileSync(binary, join(stage, "build", "Release", "better_sqlite3.node"));
  const prebuilds = join(dir, "prebuilds");
  mkdirSync(prebuilds);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  ok(await sh("tar", ["-czf", join(prebuilds, name), "-C", stage, "build"], dir), "tar");
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

beforeAll(async () => {
  mkdirSync(join(tmpdir(), "taskledger-tests"), { recursive: true });
  work = mkdtempSync(join(tmpdir(), "taskledger-tests", "tl-pack-"));
  // dist/ is already built (npm test builds first); packing must not rebuild it under other tests.
  const pack = ok(
    await sh("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], REPO),
    "npm pack",
  );
  packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!;

  project = join(work, "app");
  mkdirSync(project);
  ok(await sh("npm", ["init", "-y"], project), "npm init");
  ok(await sh("npm", ["pkg", "set", "type=module"], project), "npm pkg set");
  const install = await sh(
    "npm",
    ["install", join(work, packed.filename), "@types/node@20", "--prefer-offline", "--no-audit", "--no-fund"],
    project,
    await localPrebuild(work),
  );
  ok(install, "npm install");
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed package", () => {
  it("holds dist and the README, and runs no script when installed", () => {
    const paths = packed.files.map((f) => f.path);
    for (const path of [
      "package.json",
      "README.md",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli/main.js",
    ]) {
      expect(paths).toContain(path);
    }
    expect(paths.filter((p) => /^(src|test|bench|examples|node_modules)\//.test(p))).toEqual([]);

    const installed = JSON.parse(
      readFileSync(join(project, "node_modules", "taskledger", "package.json"), "utf8"),
    );
    const installTime = ["preinstall", "install", "postinstall", "prepare"].filter(
      (s) => installed.scripts?.[s],
    );
    expect(installTime).toEqual([]);
  });

  it("installs the library's own dependencies, none of the demo's", async () => {
    const modules = join(project, "node_modules");
    const du = ok(await sh("du", ["-sk", "node_modules"], project), "du");
    const kib = Number(du.stdout.split("\t")[0]);
    const packages = readdirSync(modules)
      .filter((name) => !name.startsWith("."))
      .flatMap((name) => (name.startsWith("@") ? readdirSync(join(modules, name)) : [name])).length;
    console.log(
      `node_modules of an app that installs the packed library: ${(kib / 1024).toFixed(1)} MiB, ${packages} packages`,
    );
    for (const demoOnly of ["sharp", "@img", "nodemailer", "smtp-server", "mailparser"]) {
      expect(existsSync(join(modules, demoOnly)), `${demoOnly} is installed`).toBe(false);
    }
    for (const needed of ["better-sqlite3", "croner", "kysely", "@types/better-sqlite3"]) {
      expect(existsSync(join(modules, needed)), `${needed} is missing`).toBe(true);
    }
  });

  it("type-checks a strict NodeNext TypeScript file that uses its types", async () => {
    writeFileSync(
      join(project, "check.ts"),
      `import { createTaskledger, defineTask, type Task } from "taskledger";

export const double = defineTask({
  name: "double",
  async run(n: number, ctx) {
    await ctx.setProgress(50);
    return n * 2;
  },
});

export async function main(url: string): Promise<Task<number>> {
  const tl = createTaskledger({ database: url, tasks: [double] });
  const task = await tl.tasks.enqueue(double, 21, { description: "double 21" });
  // @ts-expect-error the payload's type comes from the task definition
  await tl.tasks.enqueue(double, "21", { description: "a string is not a number" });
  const status: "reserved" | "queued" | "running" | "finished" | "canceled" = task.status;
  void status;
  await tl.close();
  return task;
}
`,
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          types: ["node"],
          skipLibCheck: false,
          noEmit: true,
        },
        files: ["check.ts"],
      }),
    );
    const tsc = await sh(
      join(REPO, "node_modules", ".bin", "tsc"),
      ["--noEmit", "-p", "tsconfig.json"],
      project,
    );
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
  });

  it("names the package to install for a server ledger or engine it does not have", async () => {
    writeFileSync(
      join(project, "peers.mjs"),
      `import { createTaskledger } from "taskledger";

const tries = {
  postgres: () => createTaskledger({ database: "postgres://app@127.0.0.1:1/app", tasks: [] }),
  mysql: () => createTaskledger({ database: "mysql://app@127.0.0.1:1/app", tasks: [] }),
  redis: async () => {
    const tl = createTaskledger({ database: "sqlite::memory:", redis: "redis://127.0.0.1:1", tasks: [] });
    try { await tl.migrate(); } finally { await tl.close().catch(() => {}); }
  },
};
const said = {};
for (const [name, attempt] of Object.entries(tries)) {
  try { await attempt(); said[name] = "no error"; } catch (error) { said[name] = \`\${error.code}: \${error.message}\`; }
}
console.log(JSON.stringify(said));
`,
    );
    const result = ok(await sh(process.execPath, ["peers.mjs"], project), "node peers.mjs");
    const said = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
    expect(said.postgres).toMatch(/^unavailable: .*npm install pg\b/);
    expect(said.mysql).toMatch(/^unavailable: .*npm install mysql2\b/);
    expect(said.redis).toMatch(/^unavailable: .*npm install bullmq ioredis/);
  });

  it("runs a task end to end from an ESM script on a SQLite file", async () => {
    const db = join(work, "script.db");
    writeFileSync(
      join(project, "run.mjs"),
      `import { createTaskledger, defineTask } from "taskledger";

const double = defineTask({
  name: "double",
  async run(n, ctx) {
    await ctx.setProgress(50);
    return n * 2;
  },
});
const tl = createTaskledger({ database: ${JSON.stringify(`sqlite:${db}`)}, tasks: [double] });
await tl.migrate();
const worker = tl.createWorker({ concurrency: 1 });
await worker.start();
const queued = await tl.tasks.enqueue(double, 21, { description: "double 21" });
const done = await new Promise((resolve, reject) => {
  const check = () =>
    tl.tasks.get(queued.id).then((task) => {
      if (task.status !== "finished") return;
      unsubscribe();
      resolve(task);
    }, reject);
  const unsubscribe = tl.notifications.subscribe(check);
  check();
});
await worker.stop();
await tl.close();
console.log(JSON.stringify({ status: done.status, failed: done.failed, progress: done.progress, result: done.result }));
`,
    );
    const result = ok(await sh(process.execPath, ["run.mjs"], project), "node run.mjs");
    expect(JSON.parse(result.stdout)).toEqual({
      status: "finished",
      failed: false,
      progress: 100,
      result: 42,
    });
    expect(tableCounts(db)).toMatchObject({ tasks: 1 });
  });

  it("answers `npx taskledger --help`, and without a config of the app's own asks for one", async () => {
    const help = ok(await sh("npx", ["taskledger", "--help"], project), "npx taskledger --help");
    expect(help.stdout).toMatch(/^taskledger \d+\.\d+\.\d+ — /);
    expect(help.stdout).toContain("Commands:");

    // The demo is not in the package, so there is no example to fall back on.
    const db = join(work, "npx.db");
    const enqueued = await sh(
      "npx",
      ["taskledger", "enqueue", "count_words", "--description", "words", "--payload", '"a b c"'],
      project,
      { TASKLEDGER_DATABASE_URL: `sqlite:${db}` },
    );
    expect(enqueued.code).toBe(1);
    expect(enqueued.stderr).toContain(
      `config: no taskledger.config.js or taskledger.config.mjs in ${project}: create one (export default defineConfig({ tasks: [...] })), or pass --config FILE`,
    );
    expect(existsSync(db)).toBe(false);
  });

  it("runs the project's own config, which imports `taskledger`, in a worker", async () => {
    const site = join(project, "site");
    mkdirSync(site);
    writeFileSync(
      join(site, "taskledger.config.js"),
      `import { defineConfig, defineTask } from "taskledger";

const double = defineTask({ name: "double", run: (n) => n * 2 });
export default defineConfig({ tasks: [double] });
`,
    );
    const database = `sqlite:${join(work, "site.db")}`;
    const worker = spawnProcess(join(project, "node_modules", ".bin", "taskledger"), ["worker"], {
      cwd: site,
      database,
    });
    await untilOutput(worker, `config ${join(site, "taskledger.config.js")}`);

    const waited = await spawnProcess(
      "npx",
      ["taskledger", "enqueue", "double", "--description", "double", "--payload", "21", "--wait"],
      { cwd: site, database },
    ).done;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout.trimEnd().split("\n").at(-1)).toBe("Result: 42");

    worker.child.kill("SIGTERM");
    const exited = await worker.done;
    expect(exited.code, exited.stderr).toBe(0);
  });
});
