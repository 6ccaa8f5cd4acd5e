import { describe, expect, it } from "vitest";
import { defineTask, TaskledgerError } from "../../src/index.js";

const run = async () => "ok";

function refusal(fn: () => unknown): TaskledgerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TaskledgerError);
    return error as TaskledgerError;
  }
  throw new Error("expected a TaskledgerError, nothing was thrown");
}

describe("defineTask", () => {
  it("keeps the definition and fills the seeds' defaults (60 s timeout, 3 retries 5 s apart)", () => {
    const task = defineTask({ name: "send_async_mail", run });
    expect(task.name).toBe("send_async_mail");
    expect(task.run).toBe(run);
    expect(task.timeout).toBe(60_000);
    expect(task.retry).toMatchObject({ max: 3, delay: 5_000, backoff: "fixed" });
    expect(task.queue).toBeUndefined();
    expect(Object.isFrozen(task)).toBe(true);
  });

  it("accepts a retry count, a retry policy and a queue", () => {
    expect(defineTask({ name: "a", run, retry: 0 }).retry).toMatchObject({ max: 0, delay: 5_000 });
    expect(
      defineTask({ name: "b", run, retry: { max: 2, delay: 50, backoff: "exponential", maxDelay: 400 } })
        .retry,
    ).toEqual({
      max: 2,
      delay: 50,
      backoff: "exponential",
      maxDelay: 400,
    });
    expect(defineTask({ name: "c", run, queue: "high", timeout: 1 }).queue).toBe("high");
  });

  it("accepts the longest timeout a Node.js timer can wait, 2^31 - 1 ms, and says so above it", () => {
    expect(defineTask({ name: "long", run, timeout: 2 ** 31 - 1 }).timeout).toBe(2_147_483_647);
    expect(refusal(() => defineTask({ name: "longer", run, timeout: 2 ** 31 })).message).toBe(
      "timeout: must be at most 2147483647 ms (about 24.8 days, the longest a Node.js timer waits) (got 2147483648)",
    );
  });

  it.each([
    ["missing name", { run }, "name"],
    ["empty name", { name: "", run }, "name"],
    ["name with spaces", { name: "send mail", run }, "name"],
    ["name too long", { name: "x".repeat(129), run }, "name"],
    ["name not a string", { name: 42, run }, "name"],
    ["missing run", { name: "t" }, "run"],
    ["run not a function", { name: "t", run: "go" }, "run"],
    ["zero timeout", { name: "t", run, timeout: 0 }, "timeout"],
    ["negative timeout", { name: "t", run, timeout: -5 }, "timeout"],
    ["fractional timeout", { name: "t", run, timeout: 1.5 }, "timeout"],
    ["NaN timeout", { name: "t", run, timeout: Number.NaN }, "timeout"],
    ["string timeout", { name: "t", run, timeout: "60s" }, "timeout"],
    [
      "timeout of 2^31 ms (a Node.js timer would fire at once)",
      { name: "t", run, timeout: 2 ** 31 },
      "timeout",
    ],
    ["timeout of 1e30 ms", { name: "t", run, timeout: 1e30 }, "timeout"],
    ["negative retry", { name: "t", run, retry: -1 }, "retry"],
    ["fractional retry", { name: "t", run, retry: 1.5 }, "retry"],
    ["retry not a number or object", { name: "t", run, retry: "3" }, "retry"],
    ["retry policy without max", { name: "t", run, retry: { delay: 5 } }, "retry.max"],
    ["negative retry delay", { name: "t", run, retry: { max: 1, delay: -1 } }, "retry.delay"],
    ["unknown backoff", { name: "t", run, retry: { max: 1, delay: 1, backoff: "linear" } }, "retry.backoff"],
    ["bad queue name", { name: "t", run, queue: "no spaces" }, "queue"],
  ])("refuses %s, naming the field", (_label, options, field) => {
    const error = refusal(() => defineTask(options as never));
    expect(error.code).toBe("invalid_input");
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it("refuses a non-object", () => {
    expect(refusal(() => defineTask(null as never)).code).toBe("invalid_input");
  });
});
