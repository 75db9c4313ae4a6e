/**
 * Size of the device build: the whole SDK bundle and its MQTT part alone, minified and gzipped.
 * Flash, not RAM, pays for these bytes; the goal is an MQTT part under 12 KB minified.
 * Run alone: `npm run bench -- bundle-size`.
 */
import { gzipSync } from "node:zlib";
import { bundleSdk } from "../scripts/build";
import { sizeBudgets } from "../scripts/budgets";
import type { BenchReport } from "./run";

const mqttGoalBytes = sizeBudgets.mqttBytes;

async function sizes(entry: string): Promise<{ minified: number; gzip: number }> {
  const code = Buffer.from(await bundleSdk(entry));
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export async function run(): Promise<BenchReport> {
  const sdk = await sizes("sdk/index.ts");
  const mqtt = await sizes("sdk/mqtt/index.ts");
  const mqttWithinGoal = mqtt.minified < mqttGoalBytes;
  return {
    name: "bundle-size",
    results: { sdk, mqtt, mqttGoalBytes, mqttWithinGoal },
    summary:
      `sdk ${kb(sdk.minified)} minified, ${kb(sdk.gzip)} gzip; ` +
      `mqtt ${kb(mqtt.minified)} minified, ${kb(mqtt.gzip)} gzip (goal < ${kb(mqttGoalBytes)}: ${mqttWithinGoal ? "met" : "MISSED"})`,
  };
}
