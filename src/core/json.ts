import { invalid } from "./errors.js";

/**
 * JSON is stored as TEXT on every dialect (as the seeds' `Json` TypeDecorator did).
 *
 * Payloads and results are plain data — null, booleans, finite numbers, strings, arrays and plain
 * objects — so a task reads back exactly what it was given. Everything JSON.stringify would
 * silently drop or change is refused with the JSON path of the offending value: BigInt,
 * functions, symbols, NaN/Infinity, Date (it would come back a string), Buffer and typed arrays
 * (they would come back objects), Map/Set and other class instances, cycles, `undefined` in an
 * array, nesting deeper than {@link MAX_JSON_DEPTH} levels. Two cases follow JSON on purpose: an
 * object property that is `undefined` is left out, and a top-level `undefined` is stored as null.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Arrays and objects nested deeper than this are refused (deeper data overflows the stack). */
export const MAX_JSON_DEPTH = 100;

/** The default `maxJsonBytes`: 1 MiB of UTF-8. */
export const DEFAULT_MAX_JSON_BYTES = 1_048_576;

/**
 * The stored text of a payload or result; `field` names it in errors, and an encoding longer than
 * `maxBytes` bytes of UTF-8 is refused.
 *
 * ```ts
 * encodeJson({ to: ["a@example.com"] }, "payload", settings.maxJsonBytes); // '{"to":["a@example.com"]}'
 * ```
 */
export function encodeJson(value: unknown, field: string, maxBytes?: number): string {
  // The common case (plain data) is checked without building paths; only a value that fails is
  // walked again to name the offending path.
  if (!isPlainJson(value, 0)) assertJson(value, field, 0, new Set());
  const text = JSON.stringify(value ?? null);
  if (maxBytes !== undefined) assertSize(text, field, maxBytes);
  return text;
}

function assertSize(text: string, field: string, maxBytes: number): void {
  const bytes = bytesOver(text, maxBytes);
  if (bytes !== undefined)
    throw invalid(field, `is ${bytes} bytes of JSON; the limit is ${maxBytes} (maxJsonBytes)`);
}

/** The text's size in bytes of UTF-8 when it is over `maxBytes`, else undefined. */
export function bytesOver(text: string, maxBytes: number): number | undefined {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short texts need no counting.
  if (text.length * 3 <= maxBytes) return undefined;
  const bytes = Buffer.byteLength(text, "utf8");
  return bytes > maxBytes ? bytes : undefined;
}

/** No cycle survives the depth limit, so this quick check needs no record of what it has seen. */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (item === undefined || !isPlainJson(item, depth + 1)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false; // Date, Map, class instances: the slow path names them
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    if (!isPlainJson((value as Record<string, unknown>)[keys[i]!], depth + 1)) return false;
  }
  return Object.getOwnPropertySymbols(value).length === 0;
}

export function decodeJson<T = unknown>(text: string | null | undefined): T | null {
  if (text === null || text === undefined) return null;
  return JSON.parse(text) as T;
}

function assertJson(value: unknown, path: string, depth: number, seen: Set<object>): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "undefined":
      return; // only reachable at the top level or as an object property, where JSON omits it
    case "number":
      if (!Number.isFinite(value)) throw invalid(path, `${value} is not representable in JSON`);
      return;
    case "bigint":
      throw invalid(path, "a BigInt is not JSON; convert it to a string or number first");
    case "function":
      throw invalid(path, "a function is not JSON");
    case "symbol":
      throw invalid(path, "a symbol is not JSON");
  }
  if (value === null) return;
  const object = value as object;
  if (seen.has(object)) throw invalid(path, "circular reference");
  if (depth >= MAX_JSON_DEPTH)
    throw invalid(path, `nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
  if (Array.isArray(object)) {
    seen.add(object);
    object.forEach((item, index) => {
      const itemPath = `${path}[${index}]`;
      if (item === undefined) throw invalid(itemPath, "undefined in an array would become null");
      assertJson(item, itemPath, depth + 1, seen);
    });
    seen.delete(object);
    return;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) throw invalid(path, notPlain(object));
  seen.add(object);
  for (const key of Object.keys(object)) {
    assertJson((object as Record<string, unknown>)[key], childPath(path, key), depth + 1, seen);
  }
  if (Object.getOwnPropertySymbols(object).length > 0) throw invalid(path, "symbol keys are not JSON");
  seen.delete(object);
}

/** Why an object with a prototype of its own is refused, and what to pass instead. */
function notPlain(object: object): string {
  if (object instanceof Date) return "a Date is not JSON; use an ISO string: date.toISOString()";
  if (Buffer.isBuffer(object)) return 'a Buffer is not JSON; pass a string, e.g. buffer.toString("base64")';
  const kind = object.constructor?.name ?? "object";
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer)
    return `a ${kind} is not JSON; pass an array of numbers or a base64 string`;
  return `a ${kind} is not plain JSON; pass a plain object or array`;
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
