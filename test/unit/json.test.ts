import { describe, expect, it } from "vitest";
import { decodeJson, encodeJson } from "../../src/core/json.js";
import { TaskledgerError } from "../../src/index.js";

function refusal(value: unknown): TaskledgerError {
  try {
    encodeJson(value, "payload");
  } catch (error) {
    expect(error).toBeInstanceOf(TaskledgerError);
    return error as TaskledgerError;
  }
  throw new Error("expected encodeJson to refuse the value");
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

const circular = () => {
  const node: Record<string, unknown> = { name: "root" };
  node.self = node;
  return { a: { b: [1, 2, node] } };
};

describe("encodeJson", () => {
  it.each([
    ["a BigInt", { a: { b: [1, 2, 3n] } }, "payload.a.b[2]", /BigInt/],
    ["a circular object", circular(), "payload.a.b[2].self", /circular/],
    ["a function", { a: { b: [0, 0, () => 1] } }, "payload.a.b[2]", /function/],
    ["a symbol", { a: { b: [0, 0, Symbol("s")] } }, "payload.a.b[2]", /symbol/],
    ["NaN", { a: { b: [0, 0, Number.NaN] } }, "payload.a.b[2]", /NaN/],
    ["Infinity", { a: { b: [0, 0, Number.POSITIVE_INFINITY] } }, "payload.a.b[2]", /Infinity/],
    ["-Infinity", { n: Number.NEGATIVE_INFINITY }, "payload.n", /Infinity/],
    ["a Map", { a: { b: [0, 0, new Map([["k", 1]])] } }, "payload.a.b[2]", /Map/],
    ["a Set", { a: { b: [0, 0, new Set([1])] } }, "payload.a.b[2]", /Set/],
    ["a class instance", { a: { b: [0, 0, new Point(1, 2)] } }, "payload.a.b[2]", /Point/],
    ["undefined in an array", { a: { b: [0, 0, undefined] } }, "payload.a.b[2]", /undefined/],
    ["a symbol-keyed property", { a: { [Symbol("k")]: 1 } }, "payload.a", /symbol/],
    ["a key that is not an identifier", { "two words": 1n }, 'payload["two words"]', /BigInt/],
    ["a top-level BigInt", 7n, "payload", /BigInt/],
  ])("refuses %s with its JSON path", (_label, value, path, message) => {
    const error = refusal(value);
    expect(error.code).toBe("invalid_input");
    expect(error.field).toBe(path);
    expect(error.message.startsWith(`${path}:`)).toBe(true);
    expect(error.message).toMatch(message);
  });

  it("finds a cycle deeper than the quick check's depth, and accepts a deep shared (acyclic) value", () => {
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 40; i++) node = node.next = {};
    node.back = root;
    const error = refusal({ root });
    expect(error.field).toBe(`payload.root${".next".repeat(40)}.back`);
    expect(error.message).toMatch(/circular/);

    const shared = { leaf: [1, 2] };
    let deep: Record<string, unknown> = { a: shared, b: shared };
    for (let i = 0; i < 40; i++) deep = { child: deep, again: shared };
    expect(() => encodeJson(deep, "payload")).not.toThrow();
  });

  it("accepts plain JSON, null-prototype objects, Dates (through toJSON) and top-level undefined", () => {
    const bare = Object.assign(Object.create(null), { k: 1 });
    expect(encodeJson({ a: [1, "x", true, null, { b: -0.5 }] }, "payload")).toBe(
      '{"a":[1,"x",true,null,{"b":-0.5}]}',
    );
    expect(encodeJson(bare, "payload")).toBe('{"k":1}');
    expect(encodeJson({ at: new Date(Date.UTC(2030, 0, 1)) }, "payload")).toBe(
      '{"at":"2030-01-01T00:00:00.000Z"}',
    );
    expect(encodeJson(undefined, "result")).toBe("null");
    expect(encodeJson({ dropped: undefined, kept: 1 }, "payload")).toBe('{"kept":1}');
  });

  it("allows the same object twice when it is not a cycle", () => {
    const shared = { v: 1 };
    expect(encodeJson({ a: shared, b: [shared, shared] }, "payload")).toBe(
      '{"a":{"v":1},"b":[{"v":1},{"v":1}]}',
    );
  });

  it("round-trips Korean text and emoji intact", () => {
    const value = { 제목: "환영합니다 👋", body: ["작업 완료 ✅", "家族 👨‍👩‍👧‍👦", "\u0000\u2028"] };
    const text = encodeJson(value, "payload");
    expect(decodeJson(text)).toEqual(value);
    expect(text).toContain("환영합니다 👋");
  });

  it("decodes null and undefined as null", () => {
    expect(decodeJson(null)).toBeNull();
    expect(decodeJson(undefined)).toBeNull();
  });
});
