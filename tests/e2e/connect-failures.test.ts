/**
 * Why a device cannot connect reaches the application typed (issue 16): a DeviceClient on the Node
 * ports against a port nobody listens on, a name that does not resolve, and a broker that goes
 * away under a registered session; each failed try comes to onStateChange with its reason and
 * the time of the next. The TLS reasons (untrusted, wrong host, expired) are checked the same way
 * in tests/tls/tls.test.ts, and Moddable's in tests/moddable.
 */
import { createServer } from "node:net";
import { TcpTransport, connectionFailure } from "../../targets/node/transport";
import { startTestPlatform } from "../../testkit/node/platform";
import { TestDevice } from "../../testkit/e2e/test-device";
import { approveCode, createToken } from "../../testkit/e2e/technician";

jest.setTimeout(60000);

const devices: TestDevice[] = [];
afterEach(() => {
  for (const device of devices.splice(0)) device.stop();
});

function device(options: ConstructorParameters<typeof TestDevice>[0]): TestDevice {
  const created = new TestDevice(options);
  devices.push(created);
  return created;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test("nobody listening: every try is reported as refused, with a growing wait before the next", async () => {
  const d = device({ port: await closedPort(), token: "pt_" + "x".repeat(32) });
  await d.until("three failed connects", () => d.failures.length >= 3);
  for (const failure of d.failures) expect(failure).toEqual(["provisioning", "refused", expect.any(Number)]);
  expect(d.failures.every(([, , retryInMs]) => retryInMs > 0)).toBe(true);
  expect(d.displays).toEqual([]);
});

test("a broker name that does not resolve is reported as such", async () => {
  const d = device({ host: "provisio-broker.invalid", port: 1883, token: "pt_" + "x".repeat(32) });
  await d.until("a failed connect", () => d.failures.length >= 1, 30000);
  expect(d.failures[0]).toEqual(["provisioning", "name-not-resolved", expect.any(Number)]);
});

test("a registered device whose broker goes away reports each failed reconnect while connecting", async () => {
  const platform = await startTestPlatform();
  try {
    const d = device({ port: platform.mqttPort, token: await createToken(platform), deviceId: "gone-broker" });
    await approveCode(platform, (await d.displayed()).verificationCode);
    await d.reaches("connected");
    await platform.stop();
    await d.until("two failed reconnects", () => d.failures.filter(([, reason]) => reason === "refused").length >= 2);
    expect(d.failures[0]).toEqual(["connecting", "closed", expect.any(Number)]);
    expect(d.failures.slice(1).every(([state, reason]) => state === "connecting" && reason === "refused")).toBe(true);
  } finally {
    await platform.stop();
  }
});

test("an open stream reset by the broker ends as closed, saying it was reset", async () => {
  const server = createServer((socket) => socket.once("data", () => socket.resetAndDestroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const transport = new TcpTransport({ host: "127.0.0.1", port: (server.address() as { port: number }).port });
    const ended = await new Promise<[string, string | undefined]>((resolve) => {
      const connection = transport.connect({
        onOpen: () => connection.write(new Uint8Array([0xc0, 0])),
        onData: () => undefined,
        onClose: (reason, message) => resolve([reason, message]),
      });
    });
    expect(ended).toEqual(["closed", expect.stringContaining("ECONNRESET")]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("Node's error codes map to the reasons a person can act on", () => {
  const failure = (code: string) => connectionFailure(Object.assign(new Error(code), { code }), "broker.local").reason;
  expect(
    ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET"].map(failure),
  ).toEqual(["refused", "unreachable", "unreachable", "name-not-resolved", "name-not-resolved", "timed-out", "failed"]);
  expect(
    ["SELF_SIGNED_CERT_IN_CHAIN", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "ERR_TLS_CERT_ALTNAME_INVALID"].map(
      failure,
    ),
  ).toEqual(["tls-untrusted", "tls-expired", "tls-expired", "tls-wrong-host"]);
  expect(failure("ERR_SSL_WRONG_VERSION_NUMBER")).toBe("tls-failed");
});
