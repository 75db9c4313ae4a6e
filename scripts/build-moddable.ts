/**
 * The JavaScript that manifest.json names: the core, the Moddable adapters and the example app,
 * each one minified ES module in dist/moddable/, importing each other and Moddable's own modules
 * by name. Also the one-script build of the same sources that tests and benches run inside xsnap
 * on the fakes of testkit/moddable/fakes.
 */
import { build as esbuild, type Plugin } from "esbuild";
import { mkdirSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { esbuildOptions, moddableModules, repoRoot } from "./build";
import { constTopLevel, inlineLiteralConstants } from "./top-level-const";

export const moddableDistDir = resolve(repoRoot, "dist/moddable");

/**
 * The modules of the device build: manifest name, entry (from the repo root), the output's name,
 * and the Moddable platforms it is for ("provisio-platform" has one output per kind of platform:
 * the simulator has no `flash` and no random Math.random).
 */
export const moddableBundles = [
  { name: "provisio-sdk", entry: "sdk/index.ts", output: "provisio-sdk.js", platforms: ["esp32", "lin", "mac"] },
  {
    name: "provisio-moddable",
    entry: "targets/moddable/index.ts",
    output: "provisio-moddable.js",
    platforms: ["esp32", "lin", "mac"],
  },
  {
    name: "provisio-platform",
    entry: "targets/moddable/esp32.ts",
    output: "provisio-platform-esp32.js",
    platforms: ["esp32"],
  },
  {
    name: "provisio-platform",
    entry: "targets/moddable/simulator.ts",
    output: "provisio-platform-simulator.js",
    platforms: ["lin", "mac"],
  },
  { name: "main", entry: "targets/moddable/main.ts", output: "main.js", platforms: ["esp32", "lin", "mac"] },
] as const;

export type ModdablePlatform = (typeof moddableBundles)[number]["platforms"][number];

/**
 * The project's native modules: a `.js` with XS host functions and a `.c` beside it, which
 * manifest.json names as they are (mcconfig compiles the C into the app; esbuild does not read
 * the host-function syntax). The bundles import them by name.
 */
export const moddableNativeModules = [
  { name: "provisio-entropy", path: "targets/moddable/native/provisio-entropy", platforms: ["esp32", "lin", "mac"] },
] as const;

/**
 * The core's modules that the device build takes from elsewhere, by path from the repo root: the
 * same function in C that the device links anyway (crypt's SHA-512 serves the TLS stack, the
 * engine has base64), and debug events that a release does not write (`PROVISIO_DEBUG_LOG=1`
 * keeps them). The core's own modules stay for Node and for the XS engine of the simulator.
 */
export const deviceReplacements: Readonly<Record<string, string>> = {
  "sdk/crypto/nacl/sha512.ts": "targets/moddable/sha512.ts",
  "sdk/crypto/base64url.ts": "targets/moddable/base64url.ts",
  ...(process.env.PROVISIO_DEBUG_LOG === "1" ? {} : { "sdk/debug-log.ts": "targets/moddable/debug-log.ts" }),
};

const replacementsPlugin: Plugin = {
  name: "device-replacements",
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) => {
      const replacement = deviceReplacements[relative(repoRoot, resolve(args.resolveDir, args.path)) + ".ts"];
      return replacement ? { path: resolve(repoRoot, replacement) } : undefined;
    });
  },
};

export interface BuiltModule {
  name: string;
  output: string;
  platforms: readonly ModdablePlatform[];
  code: string;
  /** Every module name the output imports. */
  imports: string[];
}

/** Builds the three modules in memory; each leaves the others and Moddable's modules as imports. */
export async function bundleModdable(): Promise<BuiltModule[]> {
  const ownNames = moddableBundles.map((b) => b.name);
  return Promise.all(
    moddableBundles.map(async (bundle) => {
      const result = await esbuild({
        ...esbuildOptions,
        entryPoints: [bundle.entry],
        format: "esm",
        metafile: true,
        plugins: [replacementsPlugin],
        external: [
          ...moddableModules,
          ...moddableNativeModules.map((native) => native.name),
          ...ownNames.filter((name) => name !== bundle.name),
        ],
      });
      const imports = Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
      const code = inlineLiteralConstants(constTopLevel(result.outputFiles![0].text));
      return {
        name: bundle.name,
        output: bundle.output,
        platforms: bundle.platforms,
        code,
        imports: [...new Set(imports)],
      };
    }),
  );
}

/** What the ESP32 loads besides the app: the modules its size budget (scripts/budgets.ts) counts. */
export function esp32DeviceSide(modules: BuiltModule[]): BuiltModule[] {
  return modules.filter((m) => m.name !== "main" && m.platforms.includes("esp32"));
}

/** Writes dist/moddable/*.js for mcconfig; returns the bytes of each. */
export async function buildModdable(): Promise<Record<string, number>> {
  mkdirSync(moddableDistDir, { recursive: true });
  const sizes: Record<string, number> = {};
  for (const module of await bundleModdable()) {
    writeFileSync(resolve(moddableDistDir, module.output), module.code);
    sizes[module.output] = Buffer.byteLength(module.code);
  }
  return sizes;
}

/**
 * One script for xsnap: `entry` with every Moddable module name replaced by the file `fakes`
 * maps it to (paths from the repo root), its exports on the global `globalName`.
 */
export async function bundleModdableOnFakes(
  entry: string,
  globalName: string,
  fakes: Record<string, string>,
  plugins: Plugin[] = [],
): Promise<string> {
  const fakePlugin: Plugin = {
    name: "moddable-fakes",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) =>
        args.path in fakes ? { path: resolve(repoRoot, fakes[args.path]) } : undefined,
      );
    },
  };
  const result = await esbuild({
    ...esbuildOptions,
    // The fakes stand in for the modules the device build leaves external.
    external: [],
    entryPoints: [entry],
    format: "iife",
    globalName,
    footer: { js: `globalThis.${globalName}=${globalName};` },
    plugins: [fakePlugin, replacementsPlugin, ...plugins],
  });
  return result.outputFiles![0].text;
}
