/**
 * Compiles simulator/xs-engine/device-worker.c (an XS machine with a device's creation sizes) at install,
 * linking the engine objects @agoric/xsnap compiled at its own install. The defines are the ones
 * its xsnap-worker build uses: the machine's structure depends on them, so they must match.
 * Fails loudly: the tests that run the app at the manifest's stack size need this binary.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const xsnap = resolve(root, "node_modules/@agoric/xsnap");
const platform = { linux: "lin", darwin: "mac" }[process.platform] ?? process.platform;
const objects = resolve(xsnap, `xsnap-native/xsnap/build/tmp/${platform}/release/xsnap-worker`);
export const deviceWorkerPath = resolve(root, "dist/xs/device-worker");

const defines = [
  "INCLUDE_XSPLATFORM",
  'XSPLATFORM="xsnapPlatform.h"',
  "mxLockdown=1",
  "mxMetering=1",
  "mxDebug=1",
  "mxNoConsole=1",
  "mxBoundsCheck=1",
  "mxParse=1",
  "mxRun=1",
  "mxSloppy=1",
  "mxSnapshot=1",
  "mxRegExpUnicodePropertyEscapes=1",
  "mxStringNormalize=1",
  "mxMinusZero=1",
];

function build() {
  if (!existsSync(objects))
    throw new Error(
      `XS engine objects not found in ${objects}: @agoric/xsnap's install script must run (npm ci, allowScripts)`,
    );
  const engine = readdirSync(objects)
    .filter((name) => name.endsWith(".o") && name !== "xsnap-worker.o")
    .map((name) => resolve(objects, name));
  mkdirSync(dirname(deviceWorkerPath), { recursive: true });
  const includes = [
    "moddable/xs/includes",
    "moddable/xs/platforms",
    "moddable/xs/sources",
    "xsnap-native/xsnap/sources",
  ].map((dir) => `-I${resolve(xsnap, dir)}`);
  execFileSync(
    process.env.CC ?? "cc",
    [
      "-O2",
      "-fno-common",
      "-UmxInstrument",
      ...defines.map((define) => `-D${define}`),
      ...includes,
      resolve(root, "simulator/xs-engine/device-worker.c"),
      ...engine,
      "-rdynamic",
      "-ldl",
      "-lm",
      "-lpthread",
      "-o",
      deviceWorkerPath,
    ],
    { stdio: "inherit" },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    build();
    console.log(`built ${deviceWorkerPath}`);
  } catch (error) {
    console.error(
      `device-worker: ${error.status === undefined ? error.message : `the compiler failed (exit ${error.status}), see above`}`,
    );
    process.exitCode = 1;
  }
}
