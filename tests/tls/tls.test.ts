/**
 * TLS from device to platform: the real platform (child process) with a TLS listener made from a
 * development CA, the device SDK on the Node TLS transport, and the ways verification must fail.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { LogFields, LogLevel } from "../../sdk/ports";
import { createCa, createServerCert, type CaFiles, type ServerCertFiles } from "../../simulator/certs/development-ca";
import { FileRecordStore, TcpTransport, nodeClock, nodeRandom } from "../../targets/node";
import { startTestPlatform, type TestPlatform } from "../support-node/platform";

jest.setTimeout(60000);

let dir: string;
let ca: CaFiles;
let otherCa: CaFiles;
let server: ServerCertFiles;
let wrongHost: ServerCertFiles;
let expired: ServerCertFiles;
const cleanups: (() => unknown)[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "provisio-tls-test-"));
  ca = createCa({ dir: join(dir, "ca") });
  otherCa = createCa({ dir: join(dir, "other-ca") });
  server = createServerCert({ ca, dir, hosts: ["localhost", "127.0.0.1"] });
  wrongHost = createServerCert({ ca, dir, name: "wrong-host", hosts: ["platform.example.org"] });
  const day = 86_400_000;
  expired = createServerCert({
    ca,
    dir,
    name: "expired",
    hosts: ["localhost", "127.0.0.1"],
    validity: { notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) },
  });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function platformWith(cert: ServerCertFiles): Promise<TestPlatform> {
  const platform = await startTestPlatform({ tls: { certFile: cert.cert, keyFile: cert.key } });
  cleanups.push(() => platform.stop());
  return platform;
}

async function provisioningToken(platform: TestPlatform): Promise<string> {
  const { status, body } = await platform.api("POST", "/api/tokens", {});
  expect(status).toBe(200);
  return body.token;
}

async function until(what: string, condition: () => boolean, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A DeviceClient on the Node TLS transport, recording its states and log events. */
function tlsDevice(options: { port: number; token: string; deviceId: string; host?: string; caFile?: string }) {
  const events: { level: LogLevel; event: string; fields?: LogFields }[] = [];
  const displays: string[] = [];
  const states: DeviceClientState[] = [];
  const stateDir = mkdtempSync(join(tmpdir(), "provisio-tls-device-"));
  const client = new DeviceClient({
    provisioningToken: options.token,
    deviceId: options.deviceId,
    transport: new TcpTransport({ host: options.host ?? "127.0.0.1", port: options.port, tls: { ca: readFileSync(options.caFile ?? ca.cert) } }),
    clock: nodeClock,
    random: nodeRandom,
    log: { write: (level, event, fields) => void events.push({ level, event, fields }) },
    store: new FileRecordStore(join(stateDir, "record.json")),
    onDisplay: (operation) => void displays.push(operation.operationId),
    onStateChange: (state) => void states.push(state),
  });
  client.start();
  cleanups.push(() => {
    client.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const linkLosses = () => events.filter((e) => e.event === "mqtt-link-lost").map((e) => String(e.fields?.error));
  return { client, events, displays, states, linkLosses };
}

test("a device provisions and sends messages over TLS, verified against the development CA", async () => {
  const platform = await platformWith(server);
  const device = tlsDevice({ port: platform.mqttsPort, token: await provisioningToken(platform), deviceId: "tls-pump-01" });
  await until("the verification code", () => device.displays.length > 0);
  await until("the operation to show its code", () => false, 0).catch(() => undefined);
  let approved = false;
  await until("approval", () => approved, 20000).catch(async () => undefined);
  for (const deadline = Date.now() + 20000; !approved && Date.now() < deadline; ) {
    const { status } = await platform.api("POST", `/api/operations/${device.displays[0]}/approve`, {});
    approved = status === 200;
    if (!approved) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(approved).toBe(true);
  await until("connected", () => device.client.state === "connected");
  await device.client.send("telemetry", new TextEncoder().encode("over tls"));
  const { body } = await platform.api("GET", "/api/messages?device=tls-pump-01");
  expect(body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString())).toEqual(["over tls"]);
  expect(device.linkLosses()).toEqual([]);
});
