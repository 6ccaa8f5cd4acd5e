import { invalid } from "./errors.js";

/**
 * JSON is stored as TEXT on every dialect (as the seeds' `Json` TypeDecorator did).
 * Encoding is strict: anything JSON.stringify would silently drop or mangle (BigInt,
 * functions, symbols, NaN/Infinity, Map/Set, class instances, cycles, undefined in
 * arrays) is refused with the JSON path of the offending value.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function encodeJson(value: unknown, field: string): string {
  // The common case (plain data) is checked without building paths; only a value that fails is
  // walked again to name the offending path.
  if (!isPlainJson(value, 0, undefined)) assertJson(value, field, new Set());
  return JSON.stringify(value ?? null);
}

/** Deeper than this, the check falls back to tracking cycles (nesting this deep is rare in real payloads). */
const SHALLOW = 32;

function isPlainJson(value: unknown, depth: number, seen: Set<object> | undefined): boolean {
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
  if (depth >= SHALLOW) {
    seen ??= new Set();
    if (seen.has(value)) return false;
    seen.add(value);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (item === undefined || !isPlainJson(item, depth + 1, seen)) return false;
    }
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false; // Date, Map, class instances: the slow path decides
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      if (!isPlainJson((value as Record<string, unknown>)[keys[i]!], depth + 1, seen)) return false;
    }
    if (Object.getOwnPropertySymbols(value).length > 0) return false;
  }
  if (seen !== undefined) seen.delete(value);
  return true;
}

export function decodeJson<T = unknown>(text: string | null | undefined): T | null {
  if (text === null || text === undefined) return null;
  return JSON.parse(text) as T;
}

function assertJson(value: unknown, path: string, seen: Set<object>): void {
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
  if (Array.isArray(object)) {
    seen.add(object);
    object.forEach((item, index) => {
      const itemPath = `${path}[${index}]`;
      if (item === undefined) throw invalid(itemPath, "undefined in an array would become null");
      assertJson(item, itemPath, seen);
    });
    seen.delete(object);
    return;
  }
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") {
    // Date and friends say how they serialise; validate what they produce.
    assertJson((object as { toJSON(): unknown }).toJSON(), path, seen);
    return;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const kind = object.constructor?.name ?? "object";
    throw invalid(path, `a ${kind} is not plain JSON; pass a plain object or array`);
  }
  seen.add(object);
  for (const key of Object.keys(object)) {
    assertJson((object as Record<string, unknown>)[key], childPath(path, key), seen);
  }
  if (Object.getOwnPropertySymbols(object).length > 0) throw invalid(path, "symbol keys are not JSON");
  seen.delete(object);
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
