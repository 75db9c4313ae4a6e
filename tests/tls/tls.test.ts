/**
 * TLS from device to platform: the real platform (child process) with a TLS listener made from a
 * development CA, the device SDK on the Node TLS transport, and the ways verification must fail.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { RefreshPolicy } from "../../sdk/registration/refresh-policy";
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { LogFields, LogLevel } from "../../sdk/ports";
import { createCa, createServerCert, type CaFiles, type ServerCertFiles } from "../../simulator/certs/development-ca";
import { FileRecordStore, TcpTransport, nodeClock, nodeRandom } from "../../targets/node";
import { approveCode } from "../e2e/technician";
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

async function provisioningToken(platform: TestPlatform, options: { registrationLifetime?: number } = {}): Promise<string> {
  const { status, body } = await platform.api("POST", "/api/tokens", options);
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
function tlsDevice(options: { port: number; token: string; deviceId: string; host?: string; caFile?: string; refresh?: RefreshPolicy }) {
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
    onDisplay: (operation) => void displays.push(operation.verificationCode),
    onStateChange: (state) => void states.push(state),
    refresh: options.refresh,
  });
  client.start();
  cleanups.push(() => {
    client.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const linkLosses = () => events.filter((e) => e.event === "mqtt-link-lost").map((e) => String(e.fields?.error));
  return { client, events, displays, states, linkLosses };
}

test("a device provisions, sends messages and refreshes its token over TLS, verified against the development CA", async () => {
  const platform = await platformWith(server);
  // 20 s tokens refreshed a quarter of the way in: the refresh comes about 5 s after connecting.
  const token = await provisioningToken(platform, { registrationLifetime: 20 });
  const device = tlsDevice({ port: platform.mqttsPort, token, deviceId: "tls-pump-01", refresh: { lifetimeFraction: 0.25 } });
  await until("the verification code", () => device.displays.length > 0);
  await approveCode(platform, device.displays[0]);
  await until("connected", () => device.client.state === "connected");
  await device.client.send("telemetry", new TextEncoder().encode("over tls"));
  const { body } = await platform.api("GET", "/api/messages?device=tls-pump-01");
  expect(body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString())).toEqual(["over tls"]);
  await until("a refreshed token", () => device.events.some((e) => e.event === "token-refreshed"), 20000);
  await until("the session on the new token", () => device.states.filter((s) => s === "connected").length >= 2 && device.client.state === "connected");
  await device.client.send("telemetry", new TextEncoder().encode("after refresh"));
  const after = await platform.api("GET", "/api/messages?device=tls-pump-01");
  expect(after.body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString()).sort()).toEqual(["after refresh", "over tls"]);
  expect(device.linkLosses()).toEqual([]);
});

/** Waits for the device to report a link loss, and checks it keeps backing off without connecting. */
async function refusedWith(device: ReturnType<typeof tlsDevice>, reason: RegExp): Promise<void> {
  await until("two link losses", () => device.linkLosses().length >= 2);
  for (const loss of device.linkLosses()) expect(loss).toMatch(reason);
  const retries = device.events.filter((e) => e.event === "mqtt-link-lost").map((e) => Number(e.fields?.retryInMs));
  expect(retries.every((ms) => ms > 0)).toBe(true);
  expect(device.displays).toEqual([]);
  expect(device.states).not.toContain("awaiting-approval");
  expect(device.states).not.toContain("connected");
}

async function noOperations(platform: TestPlatform): Promise<void> {
  const { body } = await platform.api("GET", "/api/operations");
  expect(body.operations).toEqual([]);
}

test("a device given the wrong CA refuses the platform and says the CA is unknown", async () => {
  const platform = await platformWith(server);
  const device = tlsDevice({ port: platform.mqttsPort, token: await provisioningToken(platform), deviceId: "tls-wrong-ca", caFile: otherCa.cert });
  await refusedWith(device, /not signed by a trusted CA \(unknown CA/);
  await noOperations(platform);
});

test("a device refuses a certificate that does not name the host it connects to", async () => {
  const platform = await platformWith(wrongHost);
  const device = tlsDevice({ port: platform.mqttsPort, token: await provisioningToken(platform), deviceId: "tls-wrong-host" });
  await refusedWith(device, /does not name the host 127\.0\.0\.1 \(wrong host\)/);
  await noOperations(platform);
});

test("a device checks the name it was given: localhost is not in a certificate for platform.example.org", async () => {
  const platform = await platformWith(wrongHost);
  const device = tlsDevice({ host: "localhost", port: platform.mqttsPort, token: await provisioningToken(platform), deviceId: "tls-wrong-name" });
  await refusedWith(device, /does not name the host localhost \(wrong host\)/);
});

test("a device refuses an expired server certificate", async () => {
  const platform = await platformWith(expired);
  const device = tlsDevice({ port: platform.mqttsPort, token: await provisioningToken(platform), deviceId: "tls-expired" });
  await refusedWith(device, /certificate has expired/);
  await noOperations(platform);
});

test("before the handshake succeeds the device sends only a TLS ClientHello, never its token", async () => {
  const received: Buffer[] = [];
  const sockets: Socket[] = [];
  const listener: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("data", (data) => received.push(data));
    // Hold the connection open for a while, as a server that never answers would, then drop it.
    setTimeout(() => socket.destroy(), 300);
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => listener.close(resolve)));
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  const token = "pt_secret-token-never-on-the-wire";
  const device = tlsDevice({ port: (listener.address() as { port: number }).port, token, deviceId: "tls-silent" });
  await until("two link losses", () => device.linkLosses().length >= 2);
  const bytes = Buffer.concat(received);
  expect(bytes.length).toBeGreaterThan(5);
  // One handshake record (type 22) holding a ClientHello (type 1), and nothing after it, per attempt.
  for (let offset = 0; offset < bytes.length; ) {
    expect(bytes[offset]).toBe(0x16);
    expect(bytes[offset + 5]).toBe(0x01);
    offset += 5 + bytes.readUInt16BE(offset + 3);
    expect(offset).toBeLessThanOrEqual(bytes.length);
  }
  expect(bytes.includes(Buffer.from(token))).toBe(false);
  expect(bytes.includes(Buffer.from("provisioning"))).toBe(false);
});

test("the platform offers TLS 1.2 with ECDHE-ECDSA on P-256, as Moddable's securesocket speaks it", async () => {
  const platform = await platformWith(server);
  const socket: TLSSocket = tlsConnect({
    host: "127.0.0.1",
    port: platform.mqttsPort,
    ca: readFileSync(ca.cert),
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.2",
    ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256",
    ecdhCurve: "P-256",
  });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  expect(socket.authorized).toBe(true);
  expect(socket.getProtocol()).toBe("TLSv1.2");
  expect(socket.getCipher().name).toBe("ECDHE-ECDSA-AES128-GCM-SHA256");
  expect(socket.getEphemeralKeyInfo()).toMatchObject({ type: "ECDH", name: "prime256v1" });
  expect(socket.getPeerX509Certificate()?.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
});

test("plain TCP is refused on a non-loopback address unless allowed explicitly; TLS alone is fine there", async () => {
  await expect(startTestPlatform({ host: "0.0.0.0" })).rejects.toThrow(/plain MQTT over TCP on 0\.0\.0\.0 would send every token readably/);
  const tlsOnly = await startTestPlatform({ host: "0.0.0.0", plain: false, tls: { certFile: server.cert, keyFile: server.key } });
  cleanups.push(() => tlsOnly.stop());
  expect([tlsOnly.mqttPort, tlsOnly.mqttsPort > 0]).toEqual([0, true]);
  const allowed = await startTestPlatform({ host: "0.0.0.0", allowPlainOnNetwork: true });
  cleanups.push(() => allowed.stop());
  expect(allowed.mqttPort).toBeGreaterThan(0);
});

test("the development CA: P-256 keys, the CA also in DER, SANs for every host, keys private", () => {
  const caCert = new X509Certificate(readFileSync(ca.cert));
  const serverCert = new X509Certificate(readFileSync(server.cert));
  expect(caCert.ca).toBe(true);
  expect(new X509Certificate(readFileSync(ca.der)).raw.equals(caCert.raw)).toBe(true);
  expect(serverCert.ca).toBe(false);
  expect(serverCert.verify(caCert.publicKey)).toBe(true);
  expect(serverCert.verify(new X509Certificate(readFileSync(otherCa.cert)).publicKey)).toBe(false);
  expect(serverCert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1");
  for (const cert of [caCert, serverCert]) expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  for (const key of [ca.key, server.key]) expect(statSync(key).mode & 0o077).toBe(0);
  expect(() => createCa({ dir: join(dir, "ca") })).toThrow(/exists already/);
  expect(() => createServerCert({ ca, dir, name: "bad", hosts: ["not a host"] })).toThrow(/not a host name/);
});
