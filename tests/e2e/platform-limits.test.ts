/**
 * The limits an operator sets on `provisio platform`, as users run it (the real CLI in a child
 * process): listed in --help with their defaults, a bad value refused before anything starts, and
 * the values given in force.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { DEFAULT_INGRESS_LIMITS } from "../../simulator/platform/ingress";
import { DEFAULT_DEVICE_RATE } from "../../simulator/platform/device-rate";
import { INIT_LIMITS } from "../../simulator/platform/operations";
import { DEFAULT_QUOTA_BYTES_PER_DEVICE } from "../../simulator/platform/message-batch";
import { provisio } from "../../testkit/e2e/cli-process";
import { startCliPlatform } from "../../testkit/node/cli-platform";
import { ProvisioningDevice, RegisteredDevice, newToken, provision } from "../../testkit/platform/mqtt-device";

jest.setTimeout(60_000);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "provisio-limits-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("--help lists every limit with its default", async () => {
  const run = provisio(["platform", "--help"]);
  expect(await run.exited).toBe(0);
  const help = run.output().replace(/\s+/g, " ");
  for (const [option, value] of [
    ["device-rate", DEFAULT_DEVICE_RATE.messagesPerSecond],
    ["device-bytes-rate", DEFAULT_DEVICE_RATE.bytesPerSecond],
    ["device-burst", DEFAULT_DEVICE_RATE.burstSeconds],
    ["device-quota", DEFAULT_QUOTA_BYTES_PER_DEVICE],
    ["connections-per-address", DEFAULT_INGRESS_LIMITS.connectionsPerAddress],
    ["pre-auth-packet-bytes", DEFAULT_INGRESS_LIMITS.preAuthPacketBytes],
    ["inits-per-address", INIT_LIMITS.perAddress.limit],
    ["inits-per-client", INIT_LIMITS.perClient.limit],
    ["pending-per-token", INIT_LIMITS.pendingPerToken],
  ] as const)
    expect(help).toMatch(new RegExp(`--${option} N [^-]*\\(default ${value}\\)`));
});

test.each([
  [["--device-rate", "0"], "--device-rate must be an integer from 1 to 1000000"],
  [["--device-quota", "12abc"], "--device-quota must be an integer from 1048576 to"],
  [["--connections-per-address", "-3"], "--connections-per-address"],
  [["--inits-per-address", "2.5"], "--inits-per-address must be an integer"],
])("a bad value is refused before anything starts: %j", async (args, message) => {
  const run = provisio(["platform", "--data", dir, "--mqtt-port", "0", "--http-port", "0", ...args]);
  expect(await run.exited).toBe(2);
  expect(run.output()).toContain(message);
  expect(run.output()).not.toContain("ready");
});

test("the limits given are the platform's: connections per address, operations per address, a device's rate", async () => {
  const platform = await startCliPlatform([
    ...["--connections-per-address", "3", "--inits-per-address", "2", "--device-rate", "5", "--device-burst", "0"],
  ]);
  try {
    // Two operations a minute from this address: the third is refused.
    const token = await newToken(platform);
    const { token: registration } = await provision(platform, token, "limited-0001");
    const second = await ProvisioningDevice.connect(platform.mqttUrl, token);
    expect(await second.init({ deviceId: "limited-0002" })).toMatchObject({ status: 200 });
    await second.end();
    const third = await ProvisioningDevice.connect(platform.mqttUrl, token);
    expect(await third.init({ deviceId: "limited-0003" })).toMatchObject({ status: 429, error: "rate-limited" });
    await third.end();

    // Five messages a second, no burst: ten take at least 1.8 s to be acknowledged.
    const device = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "limited-0001", registration);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => device.client.publishAsync(`${device.root}/msg/rate`, `${i}`, { qos: 1 })),
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(1800);

    // Three connections from this address (the device's is one): the fourth is closed at once.
    const url = new URL(platform.mqttUrl);
    const open = await Promise.all([0, 1].map(() => tcpOpen(url)));
    const fourth = await tcpOpen(url);
    expect(await closedWithin(fourth, 5000)).toBe(true);
    for (const socket of [...open, fourth]) socket.destroy();
    await device.end();
  } finally {
    await platform.stop();
  }
});

function tcpOpen(url: URL): Promise<ReturnType<typeof tcpConnect>> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(url.port), url.hostname, () => resolve(socket));
    socket.once("error", reject);
  });
}

function closedWithin(socket: ReturnType<typeof tcpConnect>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
