import type { Runtime } from "./runtime.js";

/**
 * The shared dependencies behind a `Taskledger` instance, for the parts of this package built on
 * it (the CLI, the HTTP layer, the testing kit). Not exported from the package.
 */
const runtimes = new WeakMap<object, Runtime>();

export function attachRuntime<T extends object>(instance: T, rt: Runtime): T {
  runtimes.set(instance, rt);
  return instance;
}

export function runtimeOf(instance: object): Runtime {
  const rt = runtimes.get(instance);
  if (!rt) throw new TypeError("not a taskledger instance (made by createTaskledger)");
  return rt;
}
