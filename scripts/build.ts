/**
 * The esbuild settings of every XS bundle (`npm run build` makes the device build with them, in
 * scripts/build-moddable.ts), and the bundles tests and benchmarks load into the
 * desktop XS engine. Everything goes through esbuild with the same target and module rules, so
 * what runs in simulator/xs-engine is what ships to the ESP32.
 */
import { build as esbuild, type BuildOptions } from "esbuild";
import { resolve } from "node:path";

export const repoRoot = resolve(__dirname, "..");
/** The core as the device loads it: written by `npm run build` (scripts/build-moddable.ts). */
export const distPath = resolve(repoRoot, "dist/moddable/provisio-sdk.js");

/** Modules the Moddable runtime provides on the device: left as imports for mcconfig to resolve. */
export const moddableModules: readonly string[] = [
  "embedded:*",
  "mc/*",
  "text/*",
  "pins/*",
  "Resource",
  "base64",
  "crc",
  "crypt",
  "file",
  "flash",
  "hex",
  "net",
  "preference",
  "securesocket",
  "sntp",
  "socket",
  "time",
  "timer",
  "wifi",
];

/** What every XS bundle shares: the device build and the test and bench bundles alike. */
export const esbuildOptions: BuildOptions = {
  absWorkingDir: repoRoot,
  bundle: true,
  write: false,
  minify: true,
  target: "es2022",
  // tweetnacl maps Node's `crypto` to false for browsers; the targets give it a PRNG.
  platform: "browser",
  external: [...moddableModules],
  logLevel: "silent",
  // The members private to a class (TypeScript `private`, named `_x`; eslint.config.mjs keeps
  // `#x` out of the XS code) get short names: XS keeps each property name in the module's symbols.
  mangleProps: /^_/,
};

async function bundle(options: BuildOptions): Promise<string> {
  const result = await esbuild({ ...esbuildOptions, ...options });
  return result.outputFiles![0].text;
}

/** The device build of `entry` (a path from the repo root): one minified ES module. */
export function bundleSdk(entry = "sdk/index.ts"): Promise<string> {
  return bundle({ entryPoints: [entry], format: "esm" });
}

/**
 * A bundle for xsnap, which evaluates scripts rather than modules: an IIFE that assigns the
 * exports of `entry` to the global `globalName`. xsnap evaluates with eval(), where a strict
 * script's `var` stays local, hence the explicit assignment.
 */
export function bundleXsScript(entry: string, globalName: string): Promise<string> {
  return bundle({
    entryPoints: [entry],
    format: "iife",
    globalName,
    footer: { js: `globalThis.${globalName}=${globalName};` },
  });
}
