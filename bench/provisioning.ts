/**
 * A whole provisioning against a real platform process on loopback: the time from the
 * technician's approval (the API call) to the device's registered session being connected, which
 * the platform's push makes independent of any polling interval; and the bytes both ways on the
 * wire, from the first CONNECT to the registered session's first status reply. Peers poll: Spotflow's
 * SDK every 5 s, Azure DPS every 3 s, so their approval-to-registered time is up to that interval.
 * The XS compute and scalar multiplications of provisioning are in the `moddable` bench.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { DeviceClient, type DeviceClientState } from "../sdk/device-client";
import type { Transport, TransportEvents } from "../sdk/ports";
import { FileRecordStore, nodeClock, nodeRandom, TcpTransport } from "../targets/node";
import { startTestPlatform, type TestPlatform } from "../testkit/node/platform";
import type { BenchReport } from "./run";

const runs = 5;

/** A Transport that counts the bytes of every connection it opens. */
class CountingTransport implements Transport {
  sent = 0;
  received = 0;
  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  connect(events: TransportEvents) {
    const connection = this.#inner.connect({
      ...events,
      onData: (bytes) => {
        this.received += bytes.length;
        events.onData(bytes);
      },
    });
    return {
      write: (bytes: Uint8Array) => {
        this.sent += bytes.length;
        connection.write(bytes);
      },
      close: () => connection.close(),
    };
  }
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function provisionOnce(platform: TestPlatform, provisioningToken: string, index: number) {
  const stateDir = mkdtempSync(join(tmpdir(), "provisio-bench-device-"));
  const transport = new CountingTransport(new TcpTransport({ host: "127.0.0.1", port: platform.mqttPort }));
  let state: DeviceClientState = "stopped";
  let connectedAt = 0;
  let tokenStatus = false;
  const device = new DeviceClient({
    provisioningToken,
    deviceId: `bench-device-${index}`,
    transport,
    clock: nodeClock,
    random: nodeRandom,
    log: {
      write: (_level, event) => {
        if (event === "token-status") tokenStatus = true;
      },
    },
    store: new FileRecordStore(join(stateDir, "record.json")),
    onDisplay: () => {},
    onStateChange: (next) => {
      state = next;
      if (next === "connected" && !connectedAt) connectedAt = performance.now();
    },
  });
  device.start();
  try {
    let operationId = "";
    await until("the operation's code on the platform", async () => {
      const { body } = await platform.api("GET", "/api/operations?state=pending");
      const operation = (body.operations as { id: string; verificationCode: string | null }[]).find(
        (op) => op.verificationCode,
      );
      operationId = operation?.id ?? "";
      return operationId !== "";
    });
    const approvedAt = performance.now();
    await platform.api("POST", `/api/operations/${operationId}/approve`, {});
    await until("the registered session", () => state === "connected");
    await until("the first status reply", () => tokenStatus);
    return {
      approvalToConnectedMs: connectedAt - approvedAt,
      bytesSent: transport.sent,
      bytesReceived: transport.received,
    };
  } finally {
    device.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchReport> {
  // The test platform's child process is unref'd (it must never keep jest alive): hold the loop.
  const keepAlive = setInterval(() => {}, 1000);
  let platform: TestPlatform | undefined;
  try {
    platform = await startTestPlatform();
    const provisioningToken = (await platform.api("POST", "/api/tokens", {})).body.token as string;
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(await provisionOnce(platform, provisioningToken, i));
    const latencies = samples.map((s) => s.approvalToConnectedMs).sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    const results = {
      runs,
      medianApprovalToConnectedMs: round(latencies[runs >> 1]),
      maxApprovalToConnectedMs: round(latencies[runs - 1]),
      bytesSent: samples[0].bytesSent,
      bytesReceived: samples[0].bytesReceived,
    };
    return {
      name: "provisioning",
      results,
      summary:
        `approval to registered session connected: median ${results.medianApprovalToConnectedMs} ms, max ${results.maxApprovalToConnectedMs} ms ` +
        `over ${runs} runs (loopback, push; goal under 100 ms, against polling every 3-5 s in peers); ` +
        `a whole provisioning moves ${results.bytesSent} bytes up and ${results.bytesReceived} down`,
    };
  } finally {
    await platform?.stop();
    clearInterval(keepAlive);
  }
}
