/**
 * Child process of testkit/node/platform.ts: runs a real platform with a clock the parent
 * can move forward. Jest cannot load aedes (an ES module) in its own module system on Node 20,
 * so tests run the platform in a process of its own, as users do.
 *
 * The listeners come as JSON in PROVISIO_TEST_LISTENERS: { tls?: {certFile, keyFile, caFile}, plain?, host?,
 * allowPlainOnNetwork? }.
 *
 * IPC in: { advance: ms } | { close: true }. IPC out: { ready: {mqttPort, mqttsPort, httpPort, apiUrl, adminKey} },
 * { advanced: ms }, { error: text }, { log: line } (every log line, also printed with PROVISIO_TEST_LOG).
 */
import { readFileSync } from "node:fs";
import type { DeviceRateLimits } from "../../simulator/platform/device-rate";
import type { IngressLimits } from "../../simulator/platform/ingress";
import type { InitLimits } from "../../simulator/platform/operations";
import { startPlatform } from "../../simulator/platform/platform";

interface Listeners {
  tls?: { certFile: string; keyFile: string };
  plain?: boolean;
  host?: string;
  allowPlainOnNetwork?: boolean;
  ingress?: Partial<IngressLimits>;
  mqttPort?: number;
  initLimits?: Partial<InitLimits>;
  quotaBytesPerDevice?: number;
  deviceRate?: Partial<DeviceRateLimits>;
}

const dataDir = process.env.PROVISIO_TEST_DATA!;
let offsetMs = Number(process.env.PROVISIO_TEST_CLOCK_OFFSET ?? "0");
const send = (message: unknown) => process.send!(message);
const listeners = JSON.parse(process.env.PROVISIO_TEST_LISTENERS || "{}") as Listeners;

startPlatform({
  dataDir,
  database: process.env.PROVISIO_TEST_DATABASE_URL || undefined,
  mqttPort: listeners.mqttPort ?? 0,
  host: listeners.host,
  plain: listeners.plain,
  allowPlainOnNetwork: listeners.allowPlainOnNetwork,
  ingress: listeners.ingress,
  initLimits: listeners.initLimits,
  quotaBytesPerDevice: listeners.quotaBytesPerDevice,
  deviceRate: listeners.deviceRate,
  tls: listeners.tls && {
    cert: readFileSync(listeners.tls.certFile),
    key: readFileSync(listeners.tls.keyFile),
    port: 0,
  },
  httpPort: 0,
  now: () => Date.now() + offsetMs,
  log: (line) => {
    send({ log: line });
    if (process.env.PROVISIO_TEST_LOG) process.stderr.write(line + "\n");
  },
}).then(
  (platform) => {
    process.on("message", (message: { advance?: number; close?: boolean }) => {
      if (message.advance !== undefined) {
        offsetMs += message.advance;
        send({ advanced: offsetMs });
      } else if (message.close) {
        void platform.close().then(() => process.exit(0));
      }
    });
    process.on("disconnect", () => void platform.close().then(() => process.exit(0)));
    const { mqttPort, mqttsPort, httpPort, apiUrl, adminKey } = platform;
    send({ ready: { mqttPort, mqttsPort, httpPort, apiUrl, adminKey } });
  },
  (error: Error) => {
    send({ error: error.stack ?? String(error) });
    process.exit(1);
  },
);
