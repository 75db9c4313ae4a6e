/**
 * `npm run build`: everything in dist/ that is built from TypeScript. The Moddable modules
 * (scripts/build-moddable.ts), and the simulated device's application as one script for the
 * desktop XS engine, which `provisio device --engine xs` loads rather than bundling at run time.
 * `npm start` and `npm test` run it first, so neither runs a stale build.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { xsDeviceBundlePath } from "../simulator/device/xs-host";
import { xsDeviceGlobal } from "../simulator/device/xs-bridge";
import { bundleXsScript } from "./build";
import { buildModdable, moddableDistDir } from "./build-moddable";

async function buildXsDevice(): Promise<number> {
  const code = await bundleXsScript(resolve(__dirname, "../simulator/device/xs-entry.ts"), xsDeviceGlobal);
  mkdirSync(dirname(xsDeviceBundlePath), { recursive: true });
  writeFileSync(xsDeviceBundlePath, code);
  return Buffer.byteLength(code);
}

Promise.all([buildModdable(), buildXsDevice()]).then(
  ([moddable, xsDevice]) => {
    console.log(`wrote ${moddableDistDir}: ${JSON.stringify(moddable)}`);
    console.log(`wrote ${xsDeviceBundlePath}: ${xsDevice} bytes`);
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
