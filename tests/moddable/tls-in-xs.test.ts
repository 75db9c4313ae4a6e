/**
 * The Moddable app over TLS inside XS: the example app on the fakes, its `securesocket` bridged to
 * a Node TLS connection made as Moddable's TLS client makes it (TLS 1.2, its suites, P-256, chain
 * and dates checked against the one CA, and the server name matched against the subjectAltName
 * along the chain the server sent, as ssl_cert.js does: see moddable-tls.ts), against the real
 * platform's MQTT-over-TLS listener with the certificates `provisio certs create` makes. A
 * recording TCP relay in front of the listener shows what crossed the wire: TLS records only, and
 * without a verified server no application data at all.
 */
import { eventually } from "../../testkit/node/eventually";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCa, createServerCert, pemToDer, type CaFiles } from "../../simulator/certs/development-ca";
import { moddableChainProblem, pemChain } from "../../simulator/certs/served-chain";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { appStatus, approveAndCollectReadings } from "../../testkit/moddable/app-flow";
import { startModdableRig, type ModdableRig, type ModdableRigOptions } from "../../testkit/moddable/moddable-host";

jest.setTimeout(90_000);

const day = 86_400_000;
const tlsHandshake = 0x16;
const tlsApplicationData = 0x17;
const clientHello = 0x01;

/** A TCP relay to `upstreamPort` that keeps, per connection, the bytes the device sent. */
class RecordingRelay {
  readonly connections: Buffer[][] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(upstreamPort: number) {
    this.#server = createServer((device) => {
      const received: Buffer[] = [];
      this.connections.push(received);
      const upstream = connect(upstreamPort, "127.0.0.1");
      for (const socket of [device, upstream]) {
        this.#sockets.add(socket);
        socket.on("error", () => undefined);
        socket.on("close", () => {
          this.#sockets.delete(socket);
          device.destroy();
          upstream.destroy();
        });
      }
      device.on("data", (bytes) => received.push(bytes));
      device.pipe(upstream);
      upstream.pipe(device);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return (this.#server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The TLS records in `bytes`: [content type, first body byte] each; fails on a truncated or non-TLS stream. */
function tlsRecords(bytes: Buffer): [number, number][] {
  const records: [number, number][] = [];
  for (let offset = 0; offset < bytes.length;) {
    expect(bytes[offset + 1]).toBe(0x03); // major version of every TLS record
    records.push([bytes[offset], bytes[offset + 5]]);
    offset += 5 + bytes.readUInt16BE(offset + 3);
    expect(offset).toBeLessThanOrEqual(bytes.length);
  }
  return records;
}

let dir: string;
let ca: CaFiles;
let otherCa: CaFiles;
let expiredCa: CaFiles;
let platform: TestPlatform;
let relay: RecordingRelay;
let relayPort: number;

/** A platform serving MQTT over TLS with `server`'s chain, behind a recording relay. */
async function relayedPlatform(
  server: { cert: string; key: string },
  trusted: CaFiles = ca,
): Promise<{ platform: TestPlatform; relay: RecordingRelay; port: number }> {
  const started = await startTestPlatform({
    tls: { certFile: server.cert, keyFile: server.key, caFile: trusted.cert },
  });
  const recording = new RecordingRelay(started.mqttsPort);
  return { platform: started, relay: recording, port: await recording.listen() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "provisio-moddable-tls-"));
  ca = createCa({ dir: join(dir, "ca") });
  otherCa = createCa({ dir: join(dir, "other-ca") });
  expiredCa = createCa({
    dir: join(dir, "expired-ca"),
    validity: { notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) },
  });
  ({
    platform,
    relay,
    port: relayPort,
  } = await relayedPlatform(createServerCert({ ca, dir, hosts: ["localhost", "127.0.0.1"] })));
});

afterAll(async () => {
  await relay?.close();
  await platform?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  relay.connections.length = 0;
});

/** A rig whose `ca.der` resource holds `caFiles`' DER certificate. */
async function rigWithCa(caFiles: CaFiles, options: ModdableRigOptions = {}): Promise<ModdableRig> {
  const rig = await startModdableRig({ speed: 5, ...options });
  await rig.evaluate(
    `moddableApp.addResource("ca.der", ${JSON.stringify(readFileSync(caFiles.der).toString("base64url"))})`,
  );
  return rig;
}

async function startApp(rig: ModdableRig, deviceId: string): Promise<string> {
  const { body } = await platform.api("POST", "/api/tokens", {});
  const settings = {
    brokerHost: "localhost",
    brokerPort: relayPort,
    provisioningToken: body.token,
    deviceId,
    caCertificate: "ca.der",
    sntp: "pool.ntp.org",
    sendIntervalMs: 4000,
  };
  await rig.evaluate(`moddableApp.start(${JSON.stringify(settings)})`);
  return body.token;
}

const until = (what: string, condition: () => boolean) => eventually(condition, what, { timeoutMs: 20_000 });

/** Every operation the platform has started, whatever its state: one per provisioning CONNECT. */
async function operationCount(): Promise<number> {
  const { body } = await platform.api("GET", "/api/operations");
  return body.operations.length;
}

/**
 * Each retry the app logs lies in its backoff window: full jitter draws from 0 up to 1 s, then up to
 * twice that after each loss (none of these connects succeeds, so the window never resets).
 */
function expectBackoffWindows(losses: [string, number][]): void {
  losses.forEach(([error, retryInMs], i) => {
    expect(error).toMatch(/socket error/);
    expect(retryInMs).toBeLessThanOrEqual(1000 * 2 ** i);
  });
}

/** The device's link losses as the app logs them: `[error, retryInMs]`. */
function linkLosses(rig: ModdableRig): [string, number][] {
  return rig.lines.flatMap((line) => {
    const match = /^warn mqtt-link-lost error=(.*) retryInMs=(\d+)$/.exec(line);
    return match ? [[match[1], Number(match[2])] as [string, number]] : [];
  });
}

test.each(["esp32", "lin"] as const)(
  "on %s the app provisions, registers and sends readings over TLS, SNI naming the broker host",
  async (moddablePlatform) => {
    const rig = await rigWithCa(ca, { platform: moddablePlatform });
    try {
      const deviceId = `${moddablePlatform}-tls`;
      const token = await startApp(rig, deviceId);
      expect(await approveAndCollectReadings(rig, platform, deviceId)).toEqual(expect.arrayContaining([1, 2]));
      // The clock was set (SNTP) before the first TLS connection.
      expect(rig.lines.findIndex((l) => l.startsWith("waiting for the time"))).toBeGreaterThanOrEqual(0);
      expect(linkLosses(rig)).toEqual([]);

      // Provisioning, then the registered session: two connections, each TLS from its first byte.
      expect(relay.connections.length).toBe(2);
      for (const connection of relay.connections) {
        const bytes = Buffer.concat(connection);
        expect(tlsRecords(bytes)[0]).toEqual([tlsHandshake, clientHello]);
        expect(bytes.subarray(0, 5 + bytes.readUInt16BE(3)).includes(Buffer.from("localhost"))).toBe(true);
        expect(bytes.includes(Buffer.from(token))).toBe(false);
        expect(bytes.includes(Buffer.from(deviceId))).toBe(false);
      }
      expect((await appStatus(rig)).sockets).toBe(1);
    } finally {
      await rig.stop();
    }
  },
);

test("with a CA that did not sign the platform's certificate the app reports the failure and backs off; no CONNECT crosses", async () => {
  const rig = await rigWithCa(otherCa);
  try {
    const operationsBefore = await operationCount();
    const token = await startApp(rig, "esp32-wrong-ca");
    await until("two link losses", () => linkLosses(rig).length >= 2);

    const losses = linkLosses(rig);
    expect(losses.length).toBeGreaterThanOrEqual(2);
    expectBackoffWindows(losses);
    expect(rig.lines.some((l) => /verification code/.test(l))).toBe(false);
    // Moddable's securesocket reports a refused handshake as a bare socket error: the cause is unknown.
    await rig.waitForLine(/^warn connect-failed state=provisioning reason=failed retryInMs=\d+/);
    expect(relay.connections.length).toBeGreaterThanOrEqual(2);
    for (const connection of relay.connections) {
      const bytes = Buffer.concat(connection);
      // Handshake records only, never application data. (Node's client checks the chain once its
      // handshake is done and then drops the link; Moddable's aborts at the Certificate message.)
      const records = tlsRecords(bytes);
      expect(records[0]).toEqual([tlsHandshake, clientHello]);
      expect(records.filter(([type]) => type === tlsApplicationData)).toEqual([]);
      expect(bytes.includes(Buffer.from(token))).toBe(false);
    }
    expect(await operationCount()).toBe(operationsBefore);
  } finally {
    await rig.stop();
  }
});

test("a CA outside its validity throws at construction: reported, and no connection is attempted", async () => {
  const rig = await rigWithCa(expiredCa);
  try {
    await startApp(rig, "esp32-expired-ca");
    await rig.waitForLine(/^warn mqtt-link-lost error=.*date validation failed/);
    await rig.waitForLine(/^warn connect-failed state=provisioning reason=tls-expired retryInMs=\d+/);
    expect(relay.connections).toEqual([]);
    expect((await appStatus(rig)).sockets).toBe(0);
  } finally {
    await rig.stop();
  }
});

/** Asserts that every connection the relay saw carried TLS handshake records only, never application data. */
function expectHandshakesOnly(connections: Buffer[][], token: string): void {
  expect(connections.length).toBeGreaterThanOrEqual(1);
  for (const connection of connections) {
    const bytes = Buffer.concat(connection);
    const records = tlsRecords(bytes);
    expect(records[0]).toEqual([tlsHandshake, clientHello]);
    expect(records.filter(([type]) => type === tlsApplicationData)).toEqual([]);
    expect(bytes.includes(Buffer.from(token))).toBe(false);
  }
}

/**
 * A CA made as before authorityKeyIdentifier was added (OpenSSL adds none to a self-signed
 * certificate unless asked), and a server certificate it signs for localhost.
 */
function legacyChain(): { ca: CaFiles; server: { cert: string; key: string } } {
  const legacy = join(dir, "legacy");
  mkdirSync(legacy);
  const files: CaFiles = { cert: join(legacy, "ca.pem"), der: join(legacy, "ca.der"), key: join(legacy, "ca.key") };
  const config = join(legacy, "openssl.cnf");
  writeFileSync(
    config,
    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = Legacy CA\n[ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = none\n",
  );
  execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", files.key]);
  execFileSync("openssl", [
    "req",
    "-new",
    "-x509",
    "-key",
    files.key,
    "-days",
    "30",
    "-config",
    config,
    "-extensions",
    "ca",
    "-out",
    files.cert,
  ]);
  writeFileSync(files.der, pemToDer(readFileSync(files.cert, "utf8")));
  return { ca: files, server: createServerCert({ ca: files, dir: legacy, hosts: ["localhost", "127.0.0.1"] }) };
}

describe("Moddable checks the host name along the chain the server sends (ssl_cert.js)", () => {
  const started: { platform: TestPlatform; relay: RecordingRelay; port: number }[] = [];
  afterAll(async () => {
    for (const { platform: other, relay: otherRelay } of started) {
      await otherRelay.close();
      await other.stop();
    }
  });

  async function platformServing(server: { cert: string; key: string }, trusted: CaFiles = ca) {
    const relayed = await relayedPlatform(server, trusted);
    started.push(relayed);
    return relayed;
  }

  /** Starts the app against `port` as `localhost` and waits for two refused handshakes. */
  async function refusedTwice(
    rig: ModdableRig,
    target: { platform: TestPlatform; relay: RecordingRelay; port: number },
  ): Promise<void> {
    const { body } = await target.platform.api("POST", "/api/tokens", {});
    const settings = {
      brokerHost: "localhost",
      brokerPort: target.port,
      provisioningToken: body.token,
      caCertificate: "ca.der",
      sendIntervalMs: 4000,
    };
    await rig.evaluate(`moddableApp.start(${JSON.stringify(settings)})`);
    await until("two link losses", () => linkLosses(rig).length >= 2);
    expectBackoffWindows(linkLosses(rig));
    expect(rig.lines.some((l) => /verification code/.test(l))).toBe(false);
    expectHandshakesOnly(target.relay.connections, body.token);
    const { body: operations } = await target.platform.api("GET", "/api/operations");
    expect(operations.operations).toEqual([]);
  }

  test("the platform serves the full chain, each certificate with an authorityKeyIdentifier", () => {
    const chain = pemChain(readFileSync(join(dir, "server.pem")));
    expect(chain.map((c) => c.subject)).toEqual([
      expect.stringContaining("localhost"),
      new X509Certificate(readFileSync(ca.cert)).subject,
    ]);
    expect(moddableChainProblem(readFileSync(join(dir, "server.pem")))).toBeUndefined();
  });

  test.each(["esp32", "lin"] as const)(
    "on %s a certificate for another host, signed by the right CA, is refused before anything is written",
    async (moddablePlatform) => {
      const target = await platformServing(
        createServerCert({
          ca,
          dir,
          name: `other-host-${moddablePlatform}`,
          hosts: ["platform.example.org", "127.0.0.1"],
        }),
      );
      const rig = await rigWithCa(ca, { platform: moddablePlatform });
      try {
        await refusedTwice(rig, target);
        expect(rig.tlsRefusals[0]).toBe("subjectAltName match failed for localhost");
      } finally {
        await rig.stop();
      }
    },
  );

  test("a server that sends its certificate alone is refused, and the platform warns of it at start", async () => {
    const server = join(dir, "server.pem");
    const leafOnly = join(dir, "leaf-only.pem");
    writeFileSync(leafOnly, pemChain(readFileSync(server))[0].toString());
    expect(moddableChainProblem(readFileSync(leafOnly))).toMatch(/server certificate alone/);
    const target = await platformServing({ cert: leafOnly, key: join(dir, "server.key") });
    expect(target.platform.logLines().join("\n")).toMatch(
      /warning: the TLS certificate file holds the server certificate alone/,
    );
    const rig = await rigWithCa(ca);
    try {
      await refusedTwice(rig, target);
      expect(rig.tlsRefusals[0]).toMatch(/^subjectAltName match failed for localhost/);
    } finally {
      await rig.stop();
    }
  });

  test("a chain with a CA that has no authorityKeyIdentifier is refused, and the platform warns of it", async () => {
    const legacy = legacyChain();
    expect(moddableChainProblem(readFileSync(legacy.server.cert))).toMatch(/Legacy CA.*has no authorityKeyIdentifier/);
    const target = await platformServing(legacy.server, legacy.ca);
    expect(target.platform.logLines().join("\n")).toMatch(/warning: .*Legacy CA.* has no authorityKeyIdentifier/);
    const rig = await rigWithCa(legacy.ca);
    try {
      await refusedTwice(rig, target);
      expect(rig.tlsRefusals[0]).toMatch(/no authorityKeyIdentifier/);
    } finally {
      await rig.stop();
    }
  });
});

test("an IP address as brokerHost is matched against the certificate's IP entries", async () => {
  const rig = await rigWithCa(ca);
  try {
    const { body } = await platform.api("POST", "/api/tokens", {});
    const settings = {
      brokerHost: "127.0.0.1",
      brokerPort: relayPort,
      provisioningToken: body.token,
      caCertificate: "ca.der",
      sendIntervalMs: 4000,
    };
    await rig.evaluate(`moddableApp.start(${JSON.stringify(settings)})`);
    await rig.waitForLine(/verification code \w{4}-\w{4}/);
    expect(linkLosses(rig)).toEqual([]);
    expect(rig.tlsRefusals).toEqual([]);
  } finally {
    await rig.stop();
  }
});

test("when SNTP does not answer, the app asks again with a growing wait, then connects", async () => {
  const rig = await rigWithCa(ca, { sntpFailures: 2 });
  try {
    await startApp(rig, "esp32-sntp");
    await rig.waitForLine(/verification code \w{4}-\w{4}/);
    const failures = rig.lines.filter((line) => line.startsWith("warn sntp-failed"));
    expect(failures).toEqual([expect.stringMatching(/again in 10 s$/), expect.stringMatching(/again in 20 s$/)]);
    expect(relay.connections.length).toBeGreaterThanOrEqual(1);
  } finally {
    await rig.stop();
  }
});

describe("the securesocket fake keeps the real constructor's rules", () => {
  let rig: ModdableRig;
  beforeAll(async () => {
    rig = await rigWithCa(ca);
    await rig.evaluate(
      `moddableApp.addResource("not-der", ${JSON.stringify(Buffer.from("not a certificate").toString("base64url"))})`,
    );
  });
  afterAll(() => rig.stop());

  const cases: [string, Record<string, unknown>, string][] = [
    [
      "the CA as DER in an ArrayBuffer",
      { certificate: "ca.der", protocolVersion: 0x303, serverName: "localhost" },
      "constructed",
    ],
    [
      "no certificate",
      { protocolVersion: 0x303 },
      "threw securesocket: secure.certificate must be DER in an ArrayBuffer",
    ],
    [
      "bytes that are not a certificate",
      { certificate: "not-der" },
      "threw securesocket: secure.certificate is not a DER X.509 certificate",
    ],
    ["TLS 1.3", { certificate: "ca.der", protocolVersion: 0x304 }, "threw SSL: protocolVersion: not supported"],
    [
      "a serverName key without a name",
      { certificate: "ca.der", serverName: null },
      "threw securesocket: secure.serverName must be a string",
    ],
  ];
  for (const [what, secure, outcome] of cases)
    test(what, async () => {
      const before = rig.lines.length;
      await rig.evaluate(`moddableApp.constructSecureSocket(${relayPort}, ${JSON.stringify(secure)})`);
      expect(rig.lines.slice(before)).toEqual([`securesocket ${outcome}`]);
    });
});
