/**
 * Budgets of the Moddable build: minified size of the device side (core + tweetnacl + adapters,
 * with nacl-fast and with the small nacl.js), the XS heap of the example app on the fakes of
 * tests/support-moddable at the provisioning peak and in steady state, and the X25519 scalar
 * multiplications one provisioning costs (counted by instrumenting tweetnacl's crypto_scalarmult).
 * Heap figures are xsnap's slot counts over the idle app: steady after a full collection; the peak
 * is the highest count after any crank, garbage not yet collected included (an upper bound).
 * Run alone: `npm run bench -- moddable`.
 */
import type { Plugin } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { bundleModdable, type ModdableBuildOptions } from "../scripts/build-moddable";
import { startModdableRig } from "../tests/moddable/moddable-host";
import { startTestPlatform } from "../tests/support-node/platform";
import type { BenchReport } from "./run";

const sizeGoalBytes = 48 * 1024;
const steadyGoalBytes = 24 * 1024;
const peakGoalBytes = 64 * 1024;
/** An XS slot is 16 bytes on the ESP32 (32-bit); xsnap on x86-64 counts the same slots. */
const esp32SlotBytes = 16;

async function deviceSide(options: ModdableBuildOptions) {
  const modules = await bundleModdable(options);
  const device = modules.filter((m) => m.name !== "main").map((m) => m.code).join("\n");
  const app = modules.find((m) => m.name === "main")!.code;
  return { minified: Buffer.byteLength(device), gzip: gzipSync(device, { level: 9 }).length, exampleApp: Buffer.byteLength(app) };
}

/** Counts every X25519 scalar multiplication in `globalThis.x25519Count`. */
const countScalarMults: Plugin = {
  name: "count-x25519",
  setup(build) {
    build.onLoad({ filter: /tweetnacl[\\/]nacl-fast\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace(
        "function crypto_scalarmult(q, n, p) {",
        "function crypto_scalarmult(q, n, p) { globalThis.x25519Count = (globalThis.x25519Count || 0) + 1;",
      ),
      loader: "js",
    }));
  },
};

async function heap() {
  // The test platform's child process does not hold the event loop open; outside jest, this does.
  const keepAlive = setInterval(() => {}, 1000);
  const platform = await startTestPlatform();
  const rig = await startModdableRig({ speed: 5, plugins: [countScalarMults] });
  try {
    const { body } = await platform.api("POST", "/api/tokens", {});
    const idle = await rig.evaluate("moddableApp.status()");
    const settings = { brokerHost: "127.0.0.1", brokerPort: platform.mqttPort, provisioningToken: body.token, deviceId: "esp32-bench", sendIntervalMs: 2000 };
    await rig.evaluate(`moddableApp.start(${JSON.stringify(settings)})`);
    const [, code] = await rig.waitForLine(/verification code (\w{4}-\w{4})/);
    for (let attempt = 0; ; attempt++) {
      const { body: listed } = await platform.api("GET", "/api/operations?state=pending");
      const op = listed.operations.find((o: { verificationCode: string | null }) => o.verificationCode === code);
      if (op) {
        await platform.api("POST", `/api/operations/${op.id}/approve`, {});
        break;
      }
      if (attempt > 200) throw new Error("the operation never showed the device's code");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await rig.waitForLine(/^registered as /);
    const x25519PerProvisioning = Number((await rig.evaluate(countScript)).reply.toString());
    await rig.waitForLine(/sent reading 3$/);
    const steady = await rig.evaluate("moddableApp.status()");
    const x25519AfterMessages = Number((await rig.evaluate(countScript)).reply.toString());
    // Slots over the idle app (its loaded code: in flash on a device, where the modules are preloaded).
    const peakSlots = rig.peakHeapSlots - idle.meter.currentHeapCount;
    const steadySlots = steady.meter.currentHeapCount - idle.meter.currentHeapCount;
    return {
      idleSlots: idle.meter.currentHeapCount,
      peakSlotsOverIdle: peakSlots,
      steadySlotsOverIdle: steadySlots,
      peakEsp32Bytes: peakSlots * esp32SlotBytes,
      steadyEsp32Bytes: steadySlots * esp32SlotBytes,
      x25519PerProvisioning,
      x25519PerMessage: (x25519AfterMessages - x25519PerProvisioning) / 3,
    };
  } finally {
    await rig.stop();
    await platform.stop();
    clearInterval(keepAlive);
  }
}

const countScript = "new TextEncoder().encode(String(globalThis.x25519Count ?? 0)).buffer";

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export async function run(): Promise<BenchReport> {
  const fast = await deviceSide({});
  const small = await deviceSide({ smallNacl: true });
  const memory = await heap();
  const met = (ok: boolean) => (ok ? "met" : "MISSED");
  return {
    name: "moddable",
    results: { naclFast: fast, naclSmall: small, sizeGoalBytes, heap: memory, steadyGoalBytes, peakGoalBytes },
    summary:
      `device side ${kb(fast.minified)} minified with nacl-fast, ${kb(small.minified)} with nacl.js (goal < ${kb(sizeGoalBytes)}: ${met(fast.minified < sizeGoalBytes)} / ${met(small.minified < sizeGoalBytes)}); ` +
      `XS heap ${memory.steadySlotsOverIdle} slots over idle in steady state (~${kb(memory.steadyEsp32Bytes)} on ESP32, goal < 24 KB: ${met(memory.steadyEsp32Bytes < steadyGoalBytes)}), ` +
      `${memory.peakSlotsOverIdle} at the provisioning peak, uncollected garbage included (~${kb(memory.peakEsp32Bytes)}, goal < 64 KB: ${met(memory.peakEsp32Bytes < peakGoalBytes)}); ` +
      `${memory.x25519PerProvisioning} X25519 per provisioning, ${memory.x25519PerMessage} per message`,
  };
}
