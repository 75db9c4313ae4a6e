/**
 * TLS from device to platform: the real platform (child process) with a TLS listener made from a
 * development CA, the device SDK on the Node TLS transport, and the ways verification must fail.
 * Then the technician's side: the HTTP API over HTTPS, with TestPlatform.api and the real CLI.
 */
import { eventually } from "../../testkit/node/eventually";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { RefreshPolicy } from "../../sdk/registration/refresh-policy";
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { LinkFailure, LogFields, LogLevel } from "../../sdk/ports";
import { createCa, createServerCert, type CaFiles, type ServerCertFiles } from "../../simulator/certs/development-ca";
import { FileRecordStore, TcpTransport, nodeClock, nodeRandom } from "../../targets/node";
import { sendApiRequest } from "../../simulator/cli/api-request";
import { provisio, whileRunning } from "../../testkit/e2e/cli-process";
import { approveCode } from "../../testkit/e2e/technician";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";

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
  const platform = await startTestPlatform({ tls: { certFile: cert.cert, keyFile: cert.key, caFile: ca.cert } });
  cleanups.push(() => platform.stop());
  return platform;
}

async function provisioningToken(
  platform: TestPlatform,
  options: { registrationLifetime?: number } = {},
): Promise<string> {
  const { status, body } = await platform.api("POST", "/api/tokens", options);
  expect(status).toBe(200);
  return body.token;
}

const until = (what: string, condition: () => boolean) => eventually(condition, what, { timeoutMs: 20_000 });

/** A DeviceClient on the Node TLS transport, recording its states and log events. */
function tlsDevice(options: {
  port: number;
  token: string;
  deviceId: string;
  host?: string;
  caFile?: string;
  refresh?: RefreshPolicy;
}) {
  const events: { level: LogLevel; event: string; fields?: LogFields }[] = [];
  const displays: string[] = [];
  const states: DeviceClientState[] = [];
  /** What onStateChange said of each failed connect: the state, the typed reason, the next try. */
  const failures: [DeviceClientState, string | undefined, number][] = [];
  const stateDir = mkdtempSync(join(tmpdir(), "provisio-tls-device-"));
  const client = new DeviceClient({
    provisioningToken: options.token,
    deviceId: options.deviceId,
    transport: new TcpTransport({
      host: options.host ?? "127.0.0.1",
      port: options.port,
      tls: { ca: readFileSync(options.caFile ?? ca.cert) },
    }),
    clock: nodeClock,
    random: nodeRandom,
    log: { write: (level, event, fields) => void events.push({ level, event, fields }) },
    store: new FileRecordStore(join(stateDir, "record.json")),
    onDisplay: (operation) => void displays.push(operation.verificationCode),
    onStateChange: (state, detail, retryInMs) =>
      void (retryInMs === undefined ? states.push(state) : failures.push([state, detail, retryInMs])),
    refresh: options.refresh,
  });
  client.start();
  cleanups.push(() => {
    client.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const linkLosses = () => events.filter((e) => e.event === "mqtt-link-lost").map((e) => String(e.fields?.error));
  return { client, events, displays, states, failures, linkLosses };
}

test("a device provisions, sends messages and refreshes its token over TLS, verified against the development CA", async () => {
  const platform = await platformWith(server);
  // 20 s tokens refreshed a quarter of the way in: the refresh comes about 5 s after connecting.
  const token = await provisioningToken(platform, { registrationLifetime: 20 });
  const device = tlsDevice({
    port: platform.mqttsPort,
    token,
    deviceId: "tls-pump-01",
    refresh: { lifetimeFraction: 0.25 },
  });
  await until("the verification code", () => device.displays.length > 0);
  await approveCode(platform, device.displays[0]);
  await until("connected", () => device.client.state === "connected");
  await device.client.send("telemetry", new TextEncoder().encode("over tls"));
  const { body } = await platform.api("GET", "/api/messages?device=tls-pump-01");
  expect(
    body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString()),
  ).toEqual(["over tls"]);
  await until("a refreshed token", () => device.events.some((e) => e.event === "token-refreshed"));
  await until(
    "the session on the new token",
    () => device.states.filter((s) => s === "connected").length >= 2 && device.client.state === "connected",
  );
  await device.client.send("telemetry", new TextEncoder().encode("after refresh"));
  const after = await platform.api("GET", "/api/messages?device=tls-pump-01");
  expect(
    after.body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString()).sort(),
  ).toEqual(["after refresh", "over tls"]);
  expect(device.linkLosses()).toEqual([]);
});

/** Waits for the device to report a link loss, and checks it keeps backing off without connecting. */
async function refusedWith(device: ReturnType<typeof tlsDevice>, reason: RegExp, failure: LinkFailure): Promise<void> {
  await until("two link losses", () => device.linkLosses().length >= 2);
  for (const loss of device.linkLosses()) expect(loss).toMatch(reason);
  expect(device.failures.length).toBeGreaterThanOrEqual(2);
  for (const [state, detail, retryInMs] of device.failures) {
    expect([state, detail]).toEqual(["provisioning", failure]);
    expect(retryInMs).toBeGreaterThan(0);
  }
  const retries = device.events.filter((e) => e.event === "mqtt-link-lost").map((e) => Number(e.fields?.retryInMs));
  expect(retries.every((ms) => ms > 0)).toBe(true);
  expect(device.displays).toEqual([]);
  expect(device.states).not.toContain("awaiting-approval");
  expect(device.states).not.toContain("connected");
}

/**
 * For a platform whose certificate clients must refuse: its API serves that certificate too, so
 * no token can be made there, and none is needed, since the device refuses before it sends one. A
 * device that did not would have its CONNECT refused, a link loss no TLS reason matches.
 */
const unusedToken = "pt_" + "u".repeat(32);

async function noOperations(platform: TestPlatform): Promise<void> {
  const { body } = await platform.api("GET", "/api/operations");
  expect(body.operations).toEqual([]);
}

test("a device given the wrong CA refuses the platform and says the CA is unknown", async () => {
  const platform = await platformWith(server);
  const device = tlsDevice({
    port: platform.mqttsPort,
    token: await provisioningToken(platform),
    deviceId: "tls-wrong-ca",
    caFile: otherCa.cert,
  });
  await refusedWith(device, /not signed by a trusted CA \(unknown CA/, "tls-untrusted");
  await noOperations(platform);
});

test("a device refuses a certificate that does not name the host it connects to", async () => {
  const platform = await platformWith(wrongHost);
  const device = tlsDevice({ port: platform.mqttsPort, token: unusedToken, deviceId: "tls-wrong-host" });
  await refusedWith(device, /does not name the host 127\.0\.0\.1 \(wrong host\)/, "tls-wrong-host");
});

test("a device checks the name it was given: localhost is not in a certificate for platform.example.org", async () => {
  const platform = await platformWith(wrongHost);
  const device = tlsDevice({
    host: "localhost",
    port: platform.mqttsPort,
    token: unusedToken,
    deviceId: "tls-wrong-name",
  });
  await refusedWith(device, /does not name the host localhost \(wrong host\)/, "tls-wrong-host");
});

test("a device refuses an expired server certificate", async () => {
  const platform = await platformWith(expired);
  const device = tlsDevice({ port: platform.mqttsPort, token: unusedToken, deviceId: "tls-expired" });
  await refusedWith(device, /certificate has expired/, "tls-expired");
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
  for (let offset = 0; offset < bytes.length;) {
    expect(bytes[offset]).toBe(0x16);
    expect(bytes[offset + 5]).toBe(0x01);
    offset += 5 + bytes.readUInt16BE(offset + 3);
    expect(offset).toBeLessThanOrEqual(bytes.length);
  }
  expect(bytes.includes(Buffer.from(token))).toBe(false);
  expect(bytes.includes(Buffer.from("provisioning"))).toBe(false);
});

test.each(["mqttsPort", "httpPort"] as const)(
  "the platform's %s offers TLS 1.2 with ECDHE-ECDSA on P-256, as Moddable's securesocket speaks it",
  async (listener) => {
    const platform = await platformWith(server);
    const socket: TLSSocket = tlsConnect({
      host: "127.0.0.1",
      port: platform[listener],
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
  },
);

test("plain MQTT and the API without TLS are refused on a non-loopback address unless allowed explicitly; TLS alone is fine there", async () => {
  const tls = { certFile: server.cert, keyFile: server.key, caFile: ca.cert };
  await expect(startTestPlatform({ host: "0.0.0.0" })).rejects.toThrow(
    /plain MQTT over TCP and the HTTP API without TLS on 0\.0\.0\.0 would send every token and the admin key readably over the network: /,
  );
  // With a certificate the API is HTTPS: only plain MQTT is left to refuse.
  await expect(startTestPlatform({ host: "0.0.0.0", tls })).rejects.toThrow(
    /failed: Error: plain MQTT over TCP on 0\.0\.0\.0 would send every token readably/,
  );
  const tlsOnly = await startTestPlatform({ host: "0.0.0.0", plain: false, tls });
  cleanups.push(() => tlsOnly.stop());
  expect([tlsOnly.mqttPort, tlsOnly.mqttsPort > 0, tlsOnly.apiUrl]).toEqual([
    0,
    true,
    `https://127.0.0.1:${tlsOnly.httpPort}`,
  ]);
  expect((await tlsOnly.api("GET", "/api/tokens")).status).toBe(200);
  const allowed = await startTestPlatform({ host: "0.0.0.0", allowPlainOnNetwork: true });
  cleanups.push(() => allowed.stop());
  expect([allowed.mqttPort > 0, allowed.apiUrl]).toEqual([true, `http://127.0.0.1:${allowed.httpPort}`]);
  expect((await allowed.api("GET", "/api/tokens")).status).toBe(200);

  // The CLI applies the same rule before starting anything, naming its own flags.
  const refused = provisio([
    "platform",
    "--host",
    "0.0.0.0",
    "--mqtt-port",
    "0",
    "--http-port",
    "0",
    "--data",
    join(dir, "refused"),
  ]);
  expect(await refused.exited).toBe(2);
  expect(refused.output()).toBe(
    "provisio: plain MQTT over TCP and the HTTP API without TLS on 0.0.0.0 would send every token and the admin key readably over the network: " +
      "use --tls-cert/--tls-key with --no-plain, or insist with --allow-plain-on-network\n",
  );
});

describe("the technician API over HTTPS", () => {
  /** The real CLI, run to its end: exit code and everything it printed. */
  async function cli(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; output: string }> {
    const run = provisio(args, { PROVISIO_ADMIN_KEY: "", PROVISIO_CA: "", ...env });
    const code = await run.exited;
    return { code, output: run.output() };
  }
  const listTokens = (platform: TestPlatform, ...extra: string[]) => [
    "tokens",
    "list",
    "--json",
    "--platform",
    platform.apiUrl,
    "--data",
    platform.dataDir,
    ...extra,
  ];

  test("with a certificate the API is HTTPS only; TestPlatform.api and the CLI trust the CA from --ca or PROVISIO_CA", async () => {
    const platform = await platformWith(server);
    expect(platform.apiUrl).toBe(`https://127.0.0.1:${platform.httpPort}`);
    expect((await platform.api("POST", "/api/tokens", { name: "over-https" })).status).toBe(200);
    const withFlag = await cli(listTokens(platform, "--ca", ca.cert));
    expect(withFlag.code).toBe(0);
    expect(JSON.parse(withFlag.output)).toEqual([expect.objectContaining({ name: "over-https" })]);
    const withEnv = await cli(listTokens(platform), { PROVISIO_CA: ca.cert });
    expect([withEnv.code, JSON.parse(withEnv.output).length]).toEqual([0, 1]);
  });

  test("without the platform's CA the request fails closed and the CLI says to pass --ca", async () => {
    const platform = await platformWith(server);
    const untrusted =
      /^provisio: the platform's certificate is not trusted: pass --ca FILE \(or set PROVISIO_CA\) .*\n$/;
    for (const extra of [[], ["--ca", otherCa.cert]]) {
      const run = await cli(listTokens(platform, ...extra));
      expect([extra.join(" "), run.code, run.output]).toEqual([extra.join(" "), 6, expect.stringMatching(untrusted)]);
    }
    // Without a CA the system's are trusted, which never signed a development certificate: nothing is sent.
    const request = sendApiRequest(`${platform.apiUrl}/api/tokens`, {
      method: "POST",
      adminKey: platform.adminKey,
      body: { name: "never" },
    });
    // The platform sends its whole chain, so the untrusted root is in it.
    await expect(request).rejects.toMatchObject({ code: "SELF_SIGNED_CERT_IN_CHAIN" });
    expect((await platform.api("GET", "/api/tokens")).body.tokens).toEqual([]);
  });

  test("the CLI refuses a certificate for another host name, and an expired one", async () => {
    const misnamed = await cli(listTokens(await platformWith(wrongHost), "--ca", ca.cert));
    expect([misnamed.code, misnamed.output]).toEqual([
      6,
      expect.stringMatching(
        /^provisio: the platform's certificate does not name 127\.0\.0\.1 \(host name does not match\)/,
      ),
    ]);
    const stale = await cli(listTokens(await platformWith(expired), "--ca", ca.cert));
    expect([stale.code, stale.output]).toEqual([
      6,
      "provisio: the platform's certificate has expired (CERT_HAS_EXPIRED)\n",
    ]);
  });

  test("plain HTTP to the HTTPS port gets no answer; the CLI suggests https://", async () => {
    const platform = await platformWith(server);
    const plainUrl = platform.apiUrl.replace(/^https:/, "http:");
    const request = sendApiRequest(`${plainUrl}/api/tokens`, {
      method: "POST",
      adminKey: platform.adminKey,
      body: { name: "plain" },
    });
    await expect(request).rejects.toMatchObject({ code: "ECONNRESET" });
    expect((await platform.api("GET", "/api/tokens")).body.tokens).toEqual([]);
    const run = await cli(["tokens", "list", "--platform", plainUrl, "--data", platform.dataDir]);
    expect([run.code, run.output]).toEqual([
      6,
      `provisio: cannot reach the platform at ${plainUrl} (ECONNRESET); if it serves https, use an https:// URL\n`,
    ]);
  });

  test("provisio platform with --tls-cert prints its https URL, which the CLI uses with --ca", async () => {
    const dataDir = join(dir, "cli-platform");
    const platform = provisio([
      "platform",
      "--tls-cert",
      server.cert,
      "--tls-key",
      server.key,
      "--no-plain",
      "--mqtts-port",
      "0",
      "--http-port",
      "0",
      "--data",
      dataDir,
    ]);
    cleanups.push(() => platform.child.kill("SIGKILL"));
    const ready = /provisio platform ready: mqtts:\/\/127\.0\.0\.1:\d+ (https:\/\/127\.0\.0\.1:\d+)\n/;
    const apiUrl = await whileRunning("the ready line", () => ready.exec(platform.output())?.[1], platform);
    expect(apiUrl).toBeDefined();
    expect(platform.output()).toContain(`technician commands: --platform ${apiUrl} --ca FILE`);
    const created = await cli(["tokens", "create", "--platform", apiUrl!, "--ca", ca.cert, "--data", dataDir]);
    expect([created.code, created.output]).toEqual([0, expect.stringMatching(/^pt_[A-Za-z0-9_-]{32}\n$/)]);
    platform.child.kill("SIGTERM");
    expect(await platform.exited).toBe(0);
  });
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
