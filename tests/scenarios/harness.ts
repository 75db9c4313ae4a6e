/**
 * Scenarios are tests that run unchanged in Node (under jest) and inside the XS engine (bundled
 * by esbuild, driven by simulator/xs-engine). They may import only sdk/ and testkit/device/ code that is
 * itself portable: no Node modules, no jest globals, no setTimeout/console/Buffer.
 */

export interface Check {
  ok(value: unknown, message?: string): void;
  equal(actual: unknown, expected: unknown, message?: string): void;
  /** Structural equality: plain objects, arrays, Uint8Array by bytes, primitives by `Object.is`. */
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
}

export interface Scenario {
  name: string;
  run(check: Check): void | Promise<void>;
}

const registry: Scenario[] = [];

/** Declares a scenario; the files under tests/scenarios/ call this at their top level. */
export function scenario(name: string, run: Scenario["run"]): void {
  if (registry.some((s) => s.name === name)) throw new Error(`duplicate scenario name: ${name}`);
  registry.push({ name, run });
}

export function allScenarios(): readonly Scenario[] {
  return registry;
}

export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckFailure";
  }
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array[${Array.from(value).join(",")}]`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object" || value === null) return String(value);
  try {
    return JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? describe(v) : v));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Returns the path of the first difference, or undefined when equal. */
export function firstDifference(a: unknown, b: unknown, path = "$"): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array)) return path;
    if (a.length !== b.length) return `${path}.length`;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `${path}[${i}]`;
    return undefined;
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return path;
  if (Array.isArray(a) !== Array.isArray(b)) return path;
  const keysA = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const keysB = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (keysA.length !== keysB.length) return `${path}{keys: ${keysA.sort()} vs ${keysB.sort()}}`;
  for (const key of keysA) {
    const diff = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      `${path}.${key}`,
    );
    if (diff !== undefined) return diff;
  }
  return undefined;
}

/** A Check that throws CheckFailure on the first failed assertion; used by both runners. */
export const strictCheck: Check = {
  ok(value, message) {
    if (!value) throw new CheckFailure(message ?? `expected a truthy value, got ${describe(value)}`);
  },
  equal(actual, expected, message) {
    if (!Object.is(actual, expected))
      throw new CheckFailure(`${message ? message + ": " : ""}expected ${describe(expected)}, got ${describe(actual)}`);
  },
  deepEqual(actual, expected, message) {
    const diff = firstDifference(actual, expected);
    if (diff !== undefined)
      throw new CheckFailure(
        `${message ? message + ": " : ""}differs at ${diff}: expected ${describe(expected)}, got ${describe(actual)}`,
      );
  },
};

/** Runs every registered scenario in order, whatever its outcome; never throws. */
export async function runAll(): Promise<{ name: string; error?: string }[]> {
  const results: { name: string; error?: string }[] = [];
  for (const s of registry) {
    try {
      await s.run(strictCheck);
      results.push({ name: s.name });
    } catch (e) {
      results.push({ name: s.name, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  return results;
}
