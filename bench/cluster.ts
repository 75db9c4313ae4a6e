/**
 * The embedded platform (aedes and SQLite, one process) against the cluster mode (PostgreSQL, two
 * RabbitMQ nodes, two workers, as `provisio cluster up` runs them) on this machine, with the same
 * devices (MQTT.js, real MQTT on loopback) in this process:
 * - connections held: 1000 provisioning sessions opened and subscribed, and the resident memory
 *   the broker side grew by, per connection (the platform process; the two RabbitMQ nodes);
 * - provisionings per second end to end (init, reveal, approval by the API, fetch), 10 at a time;
 * - stored messages per second from a fleet's shape (200 devices, 8 in flight each): until the
 *   last PUBACK for the embedded platform (it acknowledges after the commit), until the last is in
 *   the database for the cluster (the broker acknowledges once the message is queued; the workers
 *   store it after); for the cluster with both workers, then with one (the other stopped).
 *   Both platforms have their per-device rate and per-address bounds lifted: this measures what
 *   the parts can carry, not policy;
 * - `provisio cluster up` and `down` as a user runs them (the CLI, a fresh folder each time).
 * One machine holds everything here, so the cluster's figures say what its parts cost, not what
 * more machines would give. Run alone: `npm run bench -- cluster`.
 */
import type { MqttClient } from "mqtt";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { performance } from "node:perf_hooks";
import { clusterState } from "../simulator/cluster/local-cluster";
import { startTestPlatform } from "../testkit/node/platform";
import { startTestCluster } from "../testkit/node/test-cluster";
import { DeviceKeys, connect, newToken, provision, provisioningLogin } from "../testkit/platform/mqtt-device";
import {
  fleetDevices,
  fleetInFlight,
  fleetMessagesPerDevice,
  platformDevices,
  timedPublishAll,
  residentMb,
  storedFor,
} from "./platform";
import type { BenchReport } from "./run";

const connections = 1000;
const provisionings = 40;
const startUps = 3;

interface Target {
  mqttUrl: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Resident memory of the broker side, MB. */
  brokerMb(): number;
}

async function holdConnections(
  target: Target,
  token: string,
): Promise<{ perConnectionKb: number; clients: MqttClient[] }> {
  const before = target.brokerMb();
  const clients: MqttClient[] = [];
  for (let i = 0; i < connections; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, connections - i) }, async () => {
        const keys = new DeviceKeys();
        const { client } = await connect(target.mqttUrl, provisioningLogin(keys, token));
        await client.subscribeAsync(`prov/${keys.clientId}/res/+`, { qos: 1 });
        return client;
      }),
    );
    clients.push(...batch);
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  return { perConnectionKb: ((target.brokerMb() - before) * 1024) / connections, clients };
}

async function provisioningsPerSecond(target: Target, token: string, prefix: string): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < provisionings) await provision(target, token, `${prefix}-${next++}`);
    }),
  );
  return provisionings / ((performance.now() - started) / 1000);
}

/**
 * Messages a second from a fleet's shape (as bench/platform.ts: `fleetDevices` devices, the
 * SDK's `fleetInFlight` in flight each), until the last is counted in the database.
 */
async function storedPerSecond(target: Target, offset: number): Promise<number> {
  const devices = await platformDevices(target, fleetDevices, offset);
  const started = performance.now();
  await timedPublishAll(devices, fleetMessagesPerDevice, fleetInFlight);
  const total = fleetDevices * fleetMessagesPerDevice;
  const ids = new Set(devices.map((d) => d.deviceId));
  while ((await storedFor(target, ids)) < total) await new Promise((resolve) => setTimeout(resolve, 50));
  const seconds = (performance.now() - started) / 1000;
  for (const { client } of devices) await client.endAsync(true);
  return total / seconds;
}

/** Seconds `provisio cluster up` and then `down` take on a fresh folder: the median of `startUps` runs. */
async function upAndDown(): Promise<{ upSeconds: number; downSeconds: number }> {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(__dirname, "..", "bin", "provisio.js"), "cluster", ...args]);
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < startUps; i++) {
    const dir = mkdtempSync(join(tmpdir(), "provisio-bench-cluster-"));
    try {
      let started = performance.now();
      await cli("up", "--dir", dir);
      up.push((performance.now() - started) / 1000);
      started = performance.now();
      await cli("down", "--dir", dir);
      down.push((performance.now() - started) / 1000);
    } finally {
      await cli("down", "--dir", dir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const median = (values: number[]) => Number(values.sort((a, b) => a - b)[values.length >> 1].toFixed(1));
  return { upSeconds: median(up), downSeconds: median(down) };
}

async function measure(target: Target, prefix: string) {
  const token = await newToken(target);
  const held = await holdConnections(target, token);
  const provisioned = await provisioningsPerSecond(target, token, `${prefix}-p`);
  const stored = await storedPerSecond(target, 0);
  for (const client of held.clients) await client.endAsync(true);
  return {
    connectionsHeld: held.clients.length,
    memoryPerConnectionKb: Math.round(held.perConnectionKb),
    provisioningsPerSecond: Math.round(provisioned),
    storedMessagesPerSecond: Math.round(stored),
  };
}

/** Lifts what would pace a bench's devices: the per-device rate and the per-address bounds. */
const unlimited = [
  "--device-rate",
  "1000000",
  "--device-bytes-rate",
  String(10 * 1024 ** 3),
  "--connections-per-address",
  "1000000",
  "--inits-per-address",
  "1000000",
  "--inits-per-client",
  "1000000",
];

function stopped(pid: number): Promise<void> {
  process.kill(pid, "SIGTERM");
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(poll);
        resolve();
      }
    }, 100);
  });
}

export async function run(): Promise<BenchReport> {
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const platform = await startTestPlatform({
      deviceRate: { messagesPerSecond: 1e9, bytesPerSecond: 1e12 },
      ingress: { connectionsPerAddress: 100_000 },
      initLimits: { perAddress: { limit: 1e6, windowMs: 60_000 }, perClient: { limit: 1e6, windowMs: 60_000 } },
    });
    let embedded;
    try {
      embedded = await measure({ ...platform, brokerMb: () => residentMb(platform.pid) }, "embedded");
    } finally {
      await platform.stop();
    }
    const lifecycle = await upAndDown();
    const cluster = await startTestCluster(unlimited);
    let clustered;
    let oneWorker;
    try {
      const rabbitPids = clusterState(cluster.dir).rabbit.nodes.map((node) =>
        Number(readFileSync(join(cluster.dir, "rabbitmq", node.name.split("@")[0], "rabbitmq.pid"), "utf8")),
      );
      const target = {
        mqttUrl: cluster.urls.mqtt[0],
        api: cluster.api,
        brokerMb: () => rabbitPids.reduce((sum, pid) => sum + residentMb(pid), 0),
      };
      clustered = await measure(target, "cluster");
      await stopped(cluster.workerPids()[1]);
      oneWorker = Math.round(await storedPerSecond(target, fleetDevices));
    } finally {
      await cluster.stop();
    }
    const ratio = (key: keyof typeof embedded) => Number((clustered[key] / embedded[key]).toFixed(2));
    return {
      name: "cluster",
      results: {
        embedded,
        cluster: { ...clustered, storedMessagesPerSecondOneWorker: oneWorker },
        clusterLifecycle: { ...lifecycle, runs: startUps },
        clusterToEmbedded: {
          memoryPerConnection: ratio("memoryPerConnectionKb"),
          provisioningsPerSecond: ratio("provisioningsPerSecond"),
          storedMessagesPerSecond: ratio("storedMessagesPerSecond"),
        },
      },
      summary:
        `per connection ${clustered.memoryPerConnectionKb} KB on RabbitMQ vs ${embedded.memoryPerConnectionKb} KB embedded (${ratio("memoryPerConnectionKb")}x); ` +
        `provisionings/s ${clustered.provisioningsPerSecond} vs ${embedded.provisioningsPerSecond} (${ratio("provisioningsPerSecond")}x); ` +
        `stored messages/s ${clustered.storedMessagesPerSecond} (${oneWorker} with one worker) vs ${embedded.storedMessagesPerSecond} (${ratio("storedMessagesPerSecond")}x), one machine; ` +
        `cluster up ${lifecycle.upSeconds} s, down ${lifecycle.downSeconds} s (median of ${startUps})`,
    };
  } finally {
    clearInterval(keepAlive);
  }
}
