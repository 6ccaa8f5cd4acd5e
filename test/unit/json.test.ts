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
    [
      "a Date",
      { at: [new Date(Date.UTC(2030, 0, 1))] },
      "payload.at[0]",
      /Date is not JSON; use an ISO string: date\.toISOString\(\)/,
    ],
    ["a top-level Date", new Date(0), "payload", /Date is not JSON/],
    [
      "a Buffer",
      { file: { bytes: Buffer.from("hi") } },
      "payload.file.bytes",
      /Buffer is not JSON; pass a string/,
    ],
    [
      "a Uint8Array",
      { bytes: new Uint8Array([1, 2]) },
      "payload.bytes",
      /Uint8Array is not JSON; pass an array of numbers/,
    ],
    ["a Float64Array", [new Float64Array(1)], "payload[0]", /Float64Array is not JSON/],
    ["an ArrayBuffer", { raw: new ArrayBuffer(4) }, "payload.raw", /ArrayBuffer is not JSON/],
    [
      "another object with toJSON",
      { link: new URL("https://example.com") },
      "payload.link",
      /URL is not plain JSON/,
    ],
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

  it("accepts plain JSON and null-prototype objects", () => {
    const bare = Object.assign(Object.create(null), { k: 1 });
    expect(encodeJson({ a: [1, "x", true, null, { b: -0.5 }] }, "payload")).toBe(
      '{"a":[1,"x",true,null,{"b":-0.5}]}',
    );
    expect(encodeJson(bare, "payload")).toBe('{"k":1}');
  });

  it("follows JSON for undefined: an object property is left out, a top-level value is null", () => {
    expect(encodeJson({ dropped: undefined, kept: 1, inner: { gone: undefined } }, "payload")).toBe(
      '{"kept":1,"inner":{}}',
    );
    expect(encodeJson(undefined, "payload")).toBe("null");
    expect(encodeJson(undefined, "result")).toBe("null");
  });

  it("accepts 100 levels of nesting and refuses one more, naming where", () => {
    const nest = (levels: number) => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { a: value };
      return value;
    };
    expect(() => encodeJson(nest(100), "payload")).not.toThrow();
    const error = refusal(nest(101));
    expect(error.message).toMatch(/nests deeper than 100 levels/);
    expect(error.field).toMatch(/^payload(\.a\[0\]){50}$/);
  });

  it("refuses data nested 100,000 deep with the depth error, not a stack overflow", () => {
    let value: unknown = [];
    for (let i = 0; i < 100_000; i++) value = { a: value };
    const error = refusal(value);
    expect(error.message).toMatch(/nests deeper than 100 levels/);
    expect(error.field).toBe(`payload${".a".repeat(100)}`);
  });

  it("refuses an encoding over maxBytes, counting UTF-8 bytes, and accepts one at the limit", () => {
    expect(encodeJson("x".repeat(8), "payload", 10)).toBe('"xxxxxxxx"');
    expect(() => encodeJson("x".repeat(9), "payload", 10)).toThrow(
      "payload: is 11 bytes of JSON; the limit is 10 (maxJsonBytes)",
    );
    // 3 characters, 9 bytes of UTF-8 (+2 quotes): over a limit of 10 by bytes, not by length.
    const error = (() => {
      try {
        encodeJson({ title: "환영합" }, "result", 20);
      } catch (e) {
        return e as TaskledgerError;
      }
    })();
    expect(error).toMatchObject({ code: "invalid_input", field: "result" });
    expect(error?.message).toBe("result: is 21 bytes of JSON; the limit is 20 (maxJsonBytes)");
    expect(encodeJson("x".repeat(5_000_000), "payload")).toHaveLength(5_000_002);
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
