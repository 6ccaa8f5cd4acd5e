// @ts-check
// taskledger/testing in a test of your own (run: node examples/testing/kit.mjs). No files, no
// worker process: the ledger is in memory, and `drain` runs what was enqueued.
import assert from "node:assert/strict";
import { defineTask, setTaskProgress } from "taskledger";
import { createTestLedger, runTask } from "taskledger/testing";

const countWords = defineTask({
  name: "count_words",
  async run(/** @type {string} */ text) {
    await setTaskProgress(50);
    return { words: text.split(/\s+/).filter(Boolean).length };
  },
});

const welcome = defineTask({
  name: "welcome",
  async run(/** @type {{ user: string }} */ { user }) {
    return `welcome, ${user}`;
  },
});

/** The app's code under test: a sign-up enqueues a welcome task for the new user. */
async function signUp(/** @type {import("taskledger").Taskledger} */ tl, /** @type {string} */ user) {
  await tl.tasks.enqueue(welcome, { user }, { description: `welcome ${user}`, owner: user });
}

// One handler, run as a worker would: its result and the progress it reported.
const run = await runTask(countWords, "to be or not to be");
assert.equal(run.status, "finished");
assert.deepEqual(run.result, { words: 6 });
assert.deepEqual(run.progress, [{ progress: 50 }]);

// What the app enqueued, then run.
const t = createTestLedger({ tasks: [countWords, welcome] });
await signUp(t.tl, "alice");
const [queued] = await t.enqueued({ task: welcome });
assert.equal(queued?.owner, "alice");
const done = await t.drain();
assert.deepEqual(
  done.map((task) => [task.name, task.status, task.result]),
  [["welcome", "finished", "welcome, alice"]],
);
assert.deepEqual(await t.enqueued(), []);
await t.close();
console.log("taskledger/testing: ok");
