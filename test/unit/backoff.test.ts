import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY,
  decodeRetry,
  encodeRetry,
  normalizeRetry,
  retryDelay,
} from "../../src/core/backoff.js";

describe("retry policy", () => {
  it("defaults to the seeds' policy: 3 more tries, 5 s apart", () => {
    expect(DEFAULT_RETRY).toEqual({ max: 3, delay: 5_000, backoff: "fixed" });
    expect([1, 2, 3].map((n) => retryDelay(DEFAULT_RETRY, n))).toEqual([5_000, 5_000, 5_000]);
  });

  it("doubles exponential delays from the first one, up to maxDelay", () => {
    const policy = normalizeRetry(
      { max: 6, delay: 100, backoff: "exponential", maxDelay: 1_000 },
      "retry",
      DEFAULT_RETRY,
    );
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(policy, n))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("caps exponential delays at one hour by default", () => {
    const policy = normalizeRetry({ max: 30, delay: 60_000, backoff: "exponential" }, "retry", DEFAULT_RETRY);
    expect(retryDelay(policy, 30)).toBe(3_600_000);
  });

  it("keeps the fallback delay when only a count is given", () => {
    expect(normalizeRetry(2, "retry", { max: 3, delay: 750, backoff: "fixed" })).toEqual({
      max: 2,
      delay: 750,
      backoff: "fixed",
    });
    expect(normalizeRetry(undefined, "retry", DEFAULT_RETRY)).toBe(DEFAULT_RETRY);
  });

  it("is stored in a few bytes and read back as it was", () => {
    const policies = [
      DEFAULT_RETRY,
      normalizeRetry({ max: 2, delay: 0 }, "retry", DEFAULT_RETRY),
      normalizeRetry({ max: 5, delay: 250, backoff: "exponential" }, "retry", DEFAULT_RETRY),
      normalizeRetry({ max: 5, delay: 250, backoff: "exponential", maxDelay: 8_000 }, "retry", DEFAULT_RETRY),
    ];
    expect(policies.map(encodeRetry)).toEqual(["5000", "0", "exp 250", "exp 250 8000"]);
    for (const { max: _max, ...timing } of policies) expect(decodeRetry(encodeRetry(timing))).toEqual(timing);
  });

  it("reads the JSON form that rows written by earlier versions hold", () => {
    expect(decodeRetry('{"delay":5000,"backoff":"fixed","max":3}')).toEqual({
      delay: 5_000,
      backoff: "fixed",
    });
    expect(decodeRetry('{"delay":100,"backoff":"exponential","maxDelay":900,"max":4}')).toEqual({
      delay: 100,
      backoff: "exponential",
      maxDelay: 900,
    });
    expect(() => decodeRetry("soon")).toThrow(/retry/);
  });
});
