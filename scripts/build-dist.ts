/**
 * `npm run build`: everything in dist/ that is built from TypeScript. The Moddable modules
 * (scripts/build-moddable.ts), the simulated device's application as one script for the desktop
 * XS engine, which `provisio device --engine xs` loads rather than bundling at run time, and the
 * `provisio` CLI as JavaScript (dist/js). `npm ci` (postinstall), `npm start` and `npm test` run
 * it, so none of them runs a stale build; after changing the sources, run it before `npx provisio`.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { xsDeviceBundlePath } from "../simulator/device/xs-host";
import { xsDeviceGlobal } from "../simulator/device/xs-bridge";
import { build as esbuild } from "esbuild";
import { bundleXsScript, repoRoot } from "./build";
import { buildModdable, moddableDistDir } from "./build-moddable";

const cliDistDir = resolve(repoRoot, "dist/js");

/**
 * The `provisio` CLI as JavaScript (no TypeScript compiler at run time): one bundle with the
 * message writer's worker beside it, the packages left to node_modules.
 */
async function buildCli(): Promise<number> {
  const result = await esbuild({
    absWorkingDir: repoRoot,
    entryPoints: {
      provisio: "simulator/cli/main.ts",
      "message-writer-worker": "simulator/platform/message-writer-worker.ts",
    },
    outdir: cliDistDir,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    packages: "external",
    sourcemap: true,
    logLevel: "silent",
    metafile: true,
  });
  return Object.values(result.metafile.outputs).reduce((bytes, output) => bytes + output.bytes, 0);
}

/** The technician console: one minified script beside its page and style sheet, for the platform to serve. */
async function buildConsole(): Promise<number> {
  const dir = resolve(repoRoot, "dist/console");
  mkdirSync(dir, { recursive: true });
  const result = await esbuild({
    absWorkingDir: repoRoot,
    entryPoints: ["simulator/console/console.ts"],
    outfile: resolve(dir, "console.js"),
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    platform: "browser",
    logLevel: "silent",
    metafile: true,
  });
  for (const file of ["index.html", "console.css"])
    copyFileSync(resolve(repoRoot, "simulator/console", file), resolve(dir, file));
  return Object.values(result.metafile.outputs).reduce((bytes, output) => bytes + output.bytes, 0);
}

async function buildXsDevice(): Promise<number> {
  const code = await bundleXsScript(resolve(__dirname, "../simulator/device/xs-entry.ts"), xsDeviceGlobal);
  mkdirSync(dirname(xsDeviceBundlePath), { recursive: true });
  writeFileSync(xsDeviceBundlePath, code);
  return Buffer.byteLength(code);
}

Promise.all([buildModdable(), buildXsDevice(), buildCli(), buildConsole()]).then(
  ([moddable, xsDevice, cli, consoleScript]) => {
    console.log(`wrote dist/console: console.js ${consoleScript} bytes`);
    console.log(`wrote ${moddableDistDir}: ${JSON.stringify(moddable)}`);
    console.log(`wrote ${xsDeviceBundlePath}: ${xsDevice} bytes`);
    console.log(`wrote ${cliDistDir}: ${cli} bytes`);
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
