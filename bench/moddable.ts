/**
 * Budgets of the Moddable build: minified size of the device side for the ESP32 (core with its
 * crypto + adapters + its platform module), the XS heap of the example app on the fakes of
 * testkit/moddable/fakes at the provisioning peak and in steady state, the most XS stack slots it
 * used (in a machine with manifest.json's creation; the fakes add a few frames, so an upper bound)
 * and the X25519 scalar multiplications one provisioning costs (counted by instrumenting
 * sdk/crypto/nacl/x25519.ts).
 * Heap figures are slot counts over the idle app, in an XS machine with manifest.json's creation
 * sizes (simulator/xs-engine/device-worker.c). Steady: after a full collection. Peak: every crank starts
 * from a full collection and, the heap being the device's size, XS also collects within a crank
 * when it runs out, as the device would: so the highest count after any crank is what stays live
 * at a crank's end, not an upper bound of a crank's high-water mark. The machine's growth is that
 * bound: `peakAllocatedBytesOverIdle`, the most memory the machine took from the system for slots
 * and chunks beyond the idle app, in this x86-64 build's sizes (a slot is 32 bytes here, 16 on an
 * ESP32, so it overstates the device by up to 2x).
 * Run alone: `npm run bench -- moddable`.
 */
import type { Plugin } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { sizeBudgets } from "../scripts/budgets";
import { bundleModdable, esp32DeviceSide } from "../scripts/build-moddable";
import { manifest } from "../testkit/moddable/manifest";
import { startModdableRig } from "../testkit/moddable/moddable-host";
import { startTestPlatform } from "../testkit/node/platform";
import type { BenchReport } from "./run";

const sizeGoalBytes = sizeBudgets.deviceSideBytes;
const steadyGoalBytes = 24 * 1024;
const peakGoalBytes = 64 * 1024;
/** An XS slot is 16 bytes on the ESP32 (32-bit); xsnap on x86-64 counts the same slots. */
const esp32SlotBytes = 16;

async function deviceSide() {
  const modules = await bundleModdable();
  const device = esp32DeviceSide(modules)
    .map((m) => m.code)
    .join("\n");
  const app = modules.find((m) => m.name === "main")!.code;
  return {
    minified: Buffer.byteLength(device),
    gzip: gzipSync(device, { level: 9 }).length,
    exampleApp: Buffer.byteLength(app),
  };
}

/** Counts every X25519 scalar multiplication in `globalThis.x25519Count`. */
const countScalarMults: Plugin = {
  name: "count-x25519",
  setup(build) {
    build.onLoad({ filter: /sdk[\\/]crypto[\\/]nacl[\\/]x25519\.ts$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      const entry = "export function x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Uint8Array {";
      if (!source.includes(entry)) throw new Error("count-x25519: x25519's signature changed; update the bench");
      return {
        contents: source.replace(
          entry,
          `${entry} (globalThis as any).x25519Count = ((globalThis as any).x25519Count ?? 0) + 1;`,
        ),
        loader: "ts",
      };
    });
  },
};

async function heap() {
  // The test platform's child process does not hold the event loop open; outside jest, this does.
  const keepAlive = setInterval(() => {}, 1000);
  const platform = await startTestPlatform();
  const rig = await startModdableRig({ speed: 5, plugins: [countScalarMults], collectEachCrank: true });
  try {
    const { body } = await platform.api("POST", "/api/tokens", {});
    const idle = await rig.evaluate("moddableApp.status()");
    const settings = {
      brokerHost: "127.0.0.1",
      brokerPort: platform.mqttPort,
      provisioningToken: body.token,
      deviceId: "esp32-bench",
      sendIntervalMs: 2000,
    };
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
    const peakAllocatedBytesOverIdle = rig.peakAllocatedBytes - idle.meter.allocate;
    const steadySlots = steady.meter.currentHeapCount - idle.meter.currentHeapCount;
    return {
      idleSlots: idle.meter.currentHeapCount,
      peakSlotsOverIdle: peakSlots,
      steadySlotsOverIdle: steadySlots,
      peakEsp32Bytes: peakSlots * esp32SlotBytes,
      steadyEsp32Bytes: steadySlots * esp32SlotBytes,
      peakAllocatedBytesOverIdle,
      peakStackSlots: rig.peakStackSlots,
      stackSlots: manifest.creation.stack,
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
  const device = await deviceSide();
  const memory = await heap();
  const met = (ok: boolean) => (ok ? "met" : "MISSED");
  return {
    name: "moddable",
    results: { device, sizeGoalBytes, heap: memory, steadyGoalBytes, peakGoalBytes },
    summary:
      `device side ${kb(device.minified)} minified, ${kb(device.gzip)} gzip (goal < ${kb(sizeGoalBytes)}: ${met(device.minified < sizeGoalBytes)}; example app ${kb(device.exampleApp)} more); ` +
      `XS heap ${memory.steadySlotsOverIdle} slots over idle in steady state (~${kb(memory.steadyEsp32Bytes)} on ESP32, goal < 24 KB: ${met(memory.steadyEsp32Bytes < steadyGoalBytes)}), ` +
      `at most ${memory.peakSlotsOverIdle} live at a crank's end while provisioning (~${kb(memory.peakEsp32Bytes)}, goal < 64 KB: ${met(memory.peakEsp32Bytes < peakGoalBytes)}); slots only, chunks not metered; ` +
      `the machine grew by at most ${kb(memory.peakAllocatedBytesOverIdle)} (x86-64 sizes); ` +
      `stack peak ${memory.peakStackSlots} of the ${memory.stackSlots} slots of creation.stack (${Math.round((100 * memory.peakStackSlots) / memory.stackSlots)} %); ` +
      `${memory.x25519PerProvisioning} X25519 per provisioning, ${memory.x25519PerMessage} per message`,
  };
}
