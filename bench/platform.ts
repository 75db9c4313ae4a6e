/**
 * The platform under load, on loopback, each broker in a process of its own and the devices
 * (MQTT.js) in this one:
 * - stored messages per second from a fleet's shape: 200 devices with 8 QoS 1 messages in flight
 *   each, as the SDK's outbox sends them, as a ratio to a plain aedes broker (no hooks, nothing
 *   stored) in the same run, the two taking turns, the median of five rounds after a warm-up; the
 *   platform acknowledges each message only once it is committed with a full sync, and every
 *   acknowledged message is counted in the database after. Also one device flat out (256 in
 *   flight). The per-device rate limit is lifted here: this measures storage, not policy;
 * - the HTTP API's latency (p50, p95) while 50 devices publish flat out;
 * - the platform's resident memory before and during a pre-login attack (sockets announcing
 *   256 MB CONNECTs and sending what they can);
 * - provisionings per second end to end (init, reveal, approval by the API, fetch), 10 at a time.
 * Run alone: `npm run bench -- platform`.
 */
import type { MqttClient } from "mqtt";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { performance } from "node:perf_hooks";
import { startAedes } from "../testkit/node/aedes-broker";
import { startCliPlatform, type CliPlatform } from "../testkit/node/cli-platform";
import { connect, newToken, provision, publishAll, registeredLogin } from "../testkit/platform/mqtt-device";
import type { BenchReport } from "./run";

export const fleetDevices = 200;
/** What the SDK's outbox keeps in flight (sdk/outbox.ts). */
export const fleetInFlight = 8;
export const fleetMessagesPerDevice = 100;
const fleetRounds = 5;
const singleDeviceMessages = 20_000;
const flatOutInFlight = 256;
/** What each of the 50 devices publishes while the API's latency is probed. */
const latencyMessagesPerDevice = 2000;
const payload = Buffer.from(JSON.stringify({ temperatureC: 21.5, humidity: 40, seq: 0 }));

/** Publishes `count` messages from each client, `inFlight` at a time (testkit's publishAll); the seconds until the last PUBACK. */
export async function timedPublishAll(
  clients: { client: MqttClient; topic: string }[],
  count: number,
  inFlight = flatOutInFlight,
): Promise<number> {
  const started = performance.now();
  await publishAll(clients, count, inFlight, payload);
  return (performance.now() - started) / 1000;
}

/** `count` devices provisioned and connected, their Device IDs numbered from `offset`. */
export async function platformDevices(platform: Pick<CliPlatform, "api" | "mqttUrl">, count: number, offset: number) {
  const token = await newToken(platform);
  const devices = [];
  // Provisioned ten at a time: each is a few round trips, and an X25519 on either side.
  for (let i = 0; i < count; i += 10)
    devices.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(10, count - i) }, async (_, j) => {
          const deviceId = `bench-${String(offset + i + j).padStart(4, "0")}`;
          const { token: registration } = await provision(platform, token, deviceId);
          const { client } = await connect(platform.mqttUrl, registeredLogin("ws_default", deviceId, registration));
          return { client, topic: `ws/ws_default/dev/${deviceId}/msg/bench`, deviceId };
        }),
      )),
    );
  return devices;
}

/** Messages the platform keeps for these devices (device_storage, as the API lists it). */
export async function storedFor(platform: Pick<CliPlatform, "api">, deviceIds: Set<string>): Promise<number> {
  const { body } = await platform.api("GET", "/api/devices?limit=1000");
  return (body.devices as { deviceId: string; storedMessages: number }[])
    .filter((d) => deviceIds.has(d.deviceId))
    .reduce((sum, d) => sum + d.storedMessages, 0);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/**
 * The fleet's shape against both brokers, taking turns: a warm-up, then `fleetRounds` rounds;
 * each side's messages/s per round and the median of the per-round ratios. Every message the
 * platform acknowledged is then counted in its database.
 */
async function fleetThroughput(platform: CliPlatform, aedesPort: number) {
  const ours = await platformDevices(platform, fleetDevices, 0);
  const plain = await aedesDevices(aedesPort, fleetDevices);
  const total = fleetDevices * fleetMessagesPerDevice;
  await timedPublishAll(plain, fleetMessagesPerDevice, fleetInFlight);
  await timedPublishAll(ours, fleetMessagesPerDevice, fleetInFlight);
  const rounds: { platform: number; aedes: number; ratio: number }[] = [];
  for (let round = 0; round < fleetRounds; round++) {
    const aedes = total / (await timedPublishAll(plain, fleetMessagesPerDevice, fleetInFlight));
    const platformRate = total / (await timedPublishAll(ours, fleetMessagesPerDevice, fleetInFlight));
    rounds.push({ platform: platformRate, aedes, ratio: platformRate / aedes });
  }
  const acknowledged = total * (fleetRounds + 1);
  const stored = await storedFor(platform, new Set(ours.map((d) => d.deviceId)));
  if (stored !== acknowledged) throw new Error(`${acknowledged} messages acknowledged, ${stored} stored`);
  for (const { client } of [...ours, ...plain]) await client.endAsync(true);
  return {
    devices: fleetDevices,
    inFlightEach: fleetInFlight,
    platform: median(rounds.map((r) => r.platform)),
    aedes: median(rounds.map((r) => r.aedes)),
    ratio: median(rounds.map((r) => r.ratio)),
    ratios: rounds.map((r) => Number(r.ratio.toFixed(2))),
    acknowledgedAndStored: stored,
  };
}

async function aedesDevices(port: number, count: number) {
  const devices = [];
  for (let i = 0; i < count; i++) {
    const { client } = await connect(`mqtt://127.0.0.1:${port}`, { clientId: `plain-${i}`, clean: true });
    devices.push({ client, topic: `bench/${i}` });
  }
  return devices;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Calls the API every 20 ms from a process of its own (this one is busy driving the devices, and
 * its own delays must not count) until `done` settles; the latencies in ms, sorted.
 */
async function apiLatencies(platform: CliPlatform, done: Promise<unknown>): Promise<number[]> {
  const script = `
    const http = require("node:http");
    const latencies = [];
    let stop = false;
    process.stdin.on("data", () => (stop = true));
    const probe = () => {
      if (stop) return process.stdout.write(JSON.stringify(latencies));
      const started = performance.now();
      http.get(process.argv[1], { headers: { authorization: "Bearer " + process.argv[2] } }, (res) => {
        res.resume();
        res.on("end", () => { latencies.push(performance.now() - started); setTimeout(probe, 20); });
      });
    };
    probe();`;
  const prober = spawn(
    process.execPath,
    ["-e", script, `${platform.apiUrl}/api/operations?limit=20`, platform.adminKey],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let output = "";
  prober.stdout.on("data", (chunk) => (output += chunk));
  await done;
  const exited = new Promise((resolve) => prober.once("exit", resolve));
  prober.stdin.end("stop");
  await exited;
  return (JSON.parse(output) as number[]).sort((a, b) => a - b);
}

export function residentMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** Sockets that announce 256 MB CONNECTs and send bytes for `ms`; the platform's peak RSS meanwhile. */
async function preLoginAttack(platform: CliPlatform, sockets: number, ms: number): Promise<number> {
  let peak = residentMb(platform.pid);
  const deadline = Date.now() + ms;
  const header = Buffer.from([0x10, 0xf6, 0xff, 0xff, 0x7f]);
  const junk = Buffer.alloc(64 * 1024, 0x61);
  const attackers = new Set<Promise<void>>();
  while (Date.now() < deadline) {
    while (attackers.size < sockets) {
      const attack = new Promise<void>((resolve) => {
        const socket = tcpConnect(platform.mqttPort, "127.0.0.1", () => {
          socket.write(header);
          const pump = () => {
            if (socket.destroyed || Date.now() > deadline) return socket.destroy();
            socket.write(junk, () => setImmediate(pump));
          };
          pump();
        });
        socket.on("error", () => undefined);
        socket.on("close", () => resolve());
      });
      attackers.add(attack);
      void attack.then(() => attackers.delete(attack));
    }
    peak = Math.max(peak, residentMb(platform.pid));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await Promise.all(attackers);
  return Math.max(peak, residentMb(platform.pid));
}

async function provisioningsPerSecond(platform: CliPlatform, total: number, concurrency: number): Promise<number> {
  const token = await newToken(platform, { name: "bench-provisioning" });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await provision(platform, token, `prov-bench-${next++}`);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

export async function run(): Promise<BenchReport> {
  const keepAlive = setInterval(() => {}, 1000);
  // The platform as it ships (the compiled CLI), its rate limits lifted: the fleet and the
  // devices after it connect from this one address.
  const platform = await startCliPlatform([
    ...["--device-rate", "1000000", "--device-bytes-rate", String(10 * 1024 ** 3)],
    ...["--connections-per-address", "1000", "--inits-per-address", "1000000", "--inits-per-client", "1000000"],
  ]);
  const aedes = await startAedes({ plain: true });
  try {
    // First, on the fresh platform: memory under a pre-login attack.
    const idleMb = residentMb(platform.pid);
    const attackPeakMb = await preLoginAttack(platform, 20, 5000);
    const fleet = await fleetThroughput(platform, aedes.port);
    // One device flat out, then 50 flat out while the API is probed.
    const [single] = await platformDevices(platform, 1, fleetDevices);
    const [singlePlain] = await aedesDevices(aedes.port, 1);
    const singleAedes = singleDeviceMessages / (await timedPublishAll([singlePlain], singleDeviceMessages));
    const singlePlatform = singleDeviceMessages / (await timedPublishAll([single], singleDeviceMessages));
    for (const { client } of [single, singlePlain]) await client.endAsync(true);
    const fifty = await platformDevices(platform, 50, fleetDevices + 1);
    // Long enough for a hundred or more probes.
    const publishing = timedPublishAll(fifty, latencyMessagesPerDevice);
    const latencies = await apiLatencies(platform, publishing);
    await publishing;
    for (const { client } of fifty) await client.endAsync(true);
    const provisionings = await provisioningsPerSecond(platform, 60, 10);
    const round = (n: number, digits = 2) => Number(n.toFixed(digits));
    const results = {
      throughput: {
        fleet: {
          ...fleet,
          platform: Math.round(fleet.platform),
          aedes: Math.round(fleet.aedes),
          ratio: round(fleet.ratio),
        },
        singleDevice: {
          inFlight: flatOutInFlight,
          platform: Math.round(singlePlatform),
          aedes: Math.round(singleAedes),
          ratio: round(singlePlatform / singleAedes),
        },
      },
      apiLatencyMs: {
        p50: round(percentile(latencies, 50), 1),
        p95: round(percentile(latencies, 95), 1),
        samples: latencies.length,
      },
      preLoginAttack: { idleMb: round(idleMb, 0), peakMb: round(attackPeakMb, 0), sockets: 20, seconds: 5 },
      provisioningsPerSecond: round(provisionings, 1),
      goals: { ratio: 0.5, apiP95Ms: 100, attackPeakMb: 200 },
    };
    const t = results.throughput;
    return {
      name: "platform",
      results,
      summary:
        `stored QoS 1 messages/s vs plain aedes, ${fleetDevices} devices with ${fleetInFlight} in flight each: ${t.fleet.platform} against ${t.fleet.aedes} (${t.fleet.ratio}x, median of ${fleetRounds}; goal 0.5x), every acknowledged message stored; one device flat out ${t.singleDevice.platform} (${t.singleDevice.ratio}x); ` +
        `API p95 ${results.apiLatencyMs.p95} ms while 50 devices publish (goal < 100 ms); ` +
        `RSS ${results.preLoginAttack.idleMb} MB idle, ${results.preLoginAttack.peakMb} MB at most under a pre-login attack of 20 sockets for 5 s (goal flat, < 200 MB); ` +
        `${results.provisioningsPerSecond} provisionings/s end to end`,
    };
  } finally {
    await aedes.stop();
    await platform.stop();
    clearInterval(keepAlive);
  }
}
