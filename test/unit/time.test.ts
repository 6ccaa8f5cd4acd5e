import { describe, expect, it } from "vitest";
import { assertWithinHorizon, parseTime } from "../../src/core/time.js";
import { TaskledgerError } from "../../src/index.js";

function refusal(call: () => unknown): TaskledgerError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(TaskledgerError);
    return error as TaskledgerError;
  }
  throw new Error("expected a refusal");
}

const NINE_UTC = Date.UTC(2030, 0, 1, 9, 0, 0);

describe("parseTime", () => {
  it.each([
    ["2030-01-01T09:00:00Z", NINE_UTC],
    ["2030-01-01T09:00:00.250Z", NINE_UTC + 250],
    ["2030-01-01T09:00:00.123456Z", NINE_UTC + 123],
    ["2030-01-01T09:00Z", NINE_UTC],
    ["2030-01-01t09:00:00z", NINE_UTC],
    ["2030-01-01 09:00:00Z", NINE_UTC],
    ["2030-01-01T18:00:00+09:00", NINE_UTC],
    ["2030-01-01T18:00:00+0900", NINE_UTC],
    ["2030-01-01T07:30:00-01:30", NINE_UTC],
    ["  2030-01-01T09:00:00Z  ", NINE_UTC],
    ["2028-02-29T09:00:00Z", Date.UTC(2028, 1, 29, 9)],
  ])("reads %j as the instant it names", (text, expected) => {
    expect(parseTime(text, "at")).toBe(expected);
  });

  it("takes a Date and epoch milliseconds as they are", () => {
    expect(parseTime(new Date(NINE_UTC), "at")).toBe(NINE_UTC);
    expect(parseTime(NINE_UTC, "at")).toBe(NINE_UTC);
  });

  it.each(["2030-01-01T09:00:00", "2030-01-01T09:00", "2030-01-01 09:00:00.5"])(
    "refuses %j, which has no zone, saying to add one",
    (text) => {
      const error = refusal(() => parseTime(text, "at"));
      expect(error).toMatchObject({ code: "invalid_input", field: "at" });
      expect(error.message).toContain("has no time zone: add Z or an offset such as +09:00");
    },
  );

  it.each([
    ["a day February does not have", "2030-02-30T09:00:00Z", /is not a valid date/],
    ["hour 24", "2030-01-01T24:00:00Z", /is not a valid date/],
    ["minute 60", "2030-01-01T09:60:00Z", /is not a valid date/],
    ["an offset of 25 hours", "2030-01-01T09:00:00+25:00", /is not a valid date/],
    ["a date without a time", "2030-01-01", /give an ISO-8601 time with its zone/],
    ["words", "next tuesday", /is not a valid date: give an ISO-8601 time with its zone/],
    ["another date format", "Tue, 01 Jan 2030 09:00:00 GMT", /give an ISO-8601 time with its zone/],
    ["epoch ms beyond the Date range", 1e20, /beyond the range of dates/],
    ["2^53 ms", 2 ** 53, /beyond the range of dates/],
    ["NaN", Number.NaN, /is not a valid date/],
    ["an invalid Date", new Date("nope"), /is not a valid date/],
    ["null", null, /must be a Date, an ISO-8601 time with its zone or epoch milliseconds/],
  ])("refuses %s, naming the field", (_label, value, message) => {
    const error = refusal(() => parseTime(value, "startAt"));
    expect(error).toMatchObject({ code: "invalid_input", field: "startAt" });
    expect(error.message).toMatch(message);
  });
});

describe("assertWithinHorizon", () => {
  it("accepts a time up to the horizon and refuses one beyond, naming the setting", () => {
    const day = 86_400_000;
    expect(() => assertWithinHorizon(NINE_UTC + 366 * day, NINE_UTC, 366, "at")).not.toThrow();
    const error = refusal(() => assertWithinHorizon(NINE_UTC + 366 * day + 1, NINE_UTC, 366, "at"));
    expect(error.field).toBe("at");
    expect(error.message).toBe(
      "at: is more than 366 days ahead (2031-01-02T09:00:00.001Z); the limit is reservationHorizonDays (366)",
    );
  });
});
