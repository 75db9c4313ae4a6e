/**
 * The platform under load, on loopback, each broker in a process of its own and the devices
 * (MQTT.js, 256 QoS 1 messages in flight each) in this one:
 * - stored messages per second from 1, 10 and 50 devices publishing flat out, as a ratio to a
 *   plain aedes broker (no hooks, nothing stored) in the same run; the platform acknowledges each
 *   message only once it is committed with a full sync. The per-device rate limit is lifted here:
 *   this measures storage, not policy;
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
import { startTestPlatform, type TestPlatform } from "../testkit/node/platform";
import { connect, newToken, provision, registeredLogin } from "../testkit/platform/mqtt-device";
import type { BenchReport } from "./run";

const messagesPerRun = 20_000;
const inFlight = 256;
/** What each of the 50 devices publishes while the API's latency is probed. */
const latencyMessagesPerDevice = 2000;
const payload = Buffer.from(JSON.stringify({ temperatureC: 21.5, humidity: 40, seq: 0 }));

/** Publishes `count` QoS 1 messages from each client, `inFlight` at a time; the seconds until the last PUBACK. */
export async function publishAll(clients: { client: MqttClient; topic: string }[], count: number): Promise<number> {
  const started = performance.now();
  await Promise.all(
    clients.map(
      ({ client, topic }) =>
        new Promise<void>((resolve, reject) => {
          let sent = 0;
          let acked = 0;
          const next = () => {
            if (sent === count) return;
            sent++;
            client.publish(topic, payload, { qos: 1 }, (error) => {
              if (error) return reject(error);
              if (++acked === count) resolve();
              else next();
            });
          };
          for (let i = 0; i < Math.min(inFlight, count); i++) next();
        }),
    ),
  );
  return (performance.now() - started) / 1000;
}

async function platformDevices(platform: TestPlatform, count: number, offset: number) {
  const token = await newToken(platform);
  const devices = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `bench-${String(offset + i).padStart(4, "0")}`;
    const { token: registration } = await provision(platform, token, deviceId);
    const { client } = await connect(platform.mqttUrl, registeredLogin("ws_default", deviceId, registration));
    devices.push({ client, topic: `ws/ws_default/dev/${deviceId}/msg/bench` });
  }
  return devices;
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
async function apiLatencies(platform: TestPlatform, done: Promise<unknown>): Promise<number[]> {
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
async function preLoginAttack(platform: TestPlatform, sockets: number, ms: number): Promise<number> {
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

async function provisioningsPerSecond(platform: TestPlatform, total: number, concurrency: number): Promise<number> {
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
  const platform = await startTestPlatform({
    deviceRate: { messagesPerSecond: 1e9, bytesPerSecond: 1e12 },
    initLimits: { perAddress: { limit: 1e6, windowMs: 60_000 }, perClient: { limit: 1e6, windowMs: 60_000 } },
  });
  const aedes = await startAedes({ plain: true });
  try {
    // First, on the fresh platform: memory under a pre-login attack.
    const idleMb = residentMb(platform.pid);
    const attackPeakMb = await preLoginAttack(platform, 20, 5000);
    const throughput: Record<string, { platform: number; aedes: number; ratio: number }> = {};
    let offset = 0;
    let latencies: number[] = [];
    for (const devices of [1, 10, 50]) {
      const perDevice = Math.ceil(messagesPerRun / devices);
      const ours = await platformDevices(platform, devices, offset);
      offset += devices;
      const plain = await aedesDevices(aedes.port, devices);
      const plainSeconds = await publishAll(plain, perDevice);
      const oursSeconds = await publishAll(ours, perDevice);
      if (devices === 50) {
        // Long enough for a hundred or more probes: the throughput run alone lasts about a second.
        const publishing = publishAll(ours, latencyMessagesPerDevice);
        latencies = await apiLatencies(platform, publishing);
        await publishing;
      }
      const rates = { platform: (devices * perDevice) / oursSeconds, aedes: (devices * perDevice) / plainSeconds };
      throughput[`devices${devices}`] = { ...rates, ratio: rates.platform / rates.aedes };
      for (const { client } of [...ours, ...plain]) await client.endAsync(true);
    }
    const provisionings = await provisioningsPerSecond(platform, 60, 10);
    const round = (n: number, digits = 2) => Number(n.toFixed(digits));
    const results = {
      throughput: Object.fromEntries(
        Object.entries(throughput).map(([k, v]) => [
          k,
          { platform: Math.round(v.platform), aedes: Math.round(v.aedes), ratio: round(v.ratio) },
        ]),
      ),
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
        `stored QoS 1 messages/s vs plain aedes: 1 device ${t.devices1.platform} (${t.devices1.ratio}x), 10 devices ${t.devices10.platform} (${t.devices10.ratio}x), 50 devices ${t.devices50.platform} (${t.devices50.ratio}x) (goal 0.5x); ` +
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
