/**
 * The device SDK against the real platform (aedes, SQLite, HTTP API in a child process) over
 * real TCP: every provisioning path a technician sees.
 */
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import type { OperationDisplay } from "../../sdk/provisioning/provisioner";
import { TcpProxy } from "../../testkit/node/tcp-proxy";
import { codeShown as shownOn, createToken, decide as decideOn } from "../../testkit/e2e/technician";
import { TestDevice } from "../../testkit/e2e/test-device";

jest.setTimeout(60000);

let platform: TestPlatform;
const devices: TestDevice[] = [];
const proxies: TcpProxy[] = [];

beforeEach(async () => {
  platform = await startTestPlatform();
});

afterEach(async () => {
  for (const device of devices.splice(0)) device.stop();
  for (const proxy of proxies.splice(0)) await proxy.close();
  await platform.stop();
});

function device(options: { token: string; deviceId?: string; stateDir?: string; port?: number }): TestDevice {
  const created = new TestDevice({ port: platform.mqttPort, ...options });
  devices.push(created);
  return created;
}

const token = (body?: Record<string, unknown>) => createToken(platform, body);
const codeShown = (display: OperationDisplay) => shownOn(platform, display);
const decide = (display: OperationDisplay, action: "approve" | "reject", body?: Record<string, unknown>) =>
  decideOn(platform, display, action, body);

async function storedMessages(deviceId: string): Promise<{ stream: string; payloadBase64: string }[]> {
  const { body } = await platform.api("GET", `/api/messages?device=${deviceId}`);
  return body.messages;
}

test("shared token, Device ID chosen by the device: code shown on both sides, approved, message stored", async () => {
  const d = device({ token: await token(), deviceId: "e2e-pump-01" });
  const display = await d.displayed();
  expect(display.verificationCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  await d.reaches("awaiting-approval");
  await decide(display, "approve");
  await d.reaches("connected");
  expect([d.client.workspaceId, d.client.deviceId]).toEqual([expect.any(String), "e2e-pump-01"]);
  await d.client.send("telemetry", new TextEncoder().encode("hello"));
  const messages = await storedMessages("e2e-pump-01");
  expect(messages.map((m) => [m.stream, Buffer.from(m.payloadBase64, "base64").toString()])).toEqual([
    ["telemetry", "hello"],
  ]);
});

test("the technician overrides the Device ID at approval", async () => {
  const d = device({ token: await token(), deviceId: "asked-for-id" });
  await decide(await d.displayed(), "approve", { deviceId: "given-by-technician" });
  await d.reaches("connected");
  expect(d.client.deviceId).toBe("given-by-technician");
});

test("a device-specific token fixes the Device ID", async () => {
  const d = device({ token: await token({ deviceId: "fixed-0007" }) });
  await decide(await d.displayed(), "approve");
  await d.reaches("connected");
  expect(d.client.deviceId).toBe("fixed-0007");
});

test("a rejected device reports operation-rejected", async () => {
  const d = device({ token: await token(), deviceId: "e2e-rejected" });
  await decide(await d.displayed(), "reject");
  expect(await d.reaches("failed")).toBe("operation-rejected");
});

test("an expired operation is followed by a new one that can be approved", async () => {
  const d = device({ token: await token(), deviceId: "e2e-expiring" });
  const first = await d.displayed();
  await d.reaches("awaiting-approval");
  await platform.advanceClock(3600 * 1000);
  const second = await d.displayed(2);
  expect(second.operationId).not.toBe(first.operationId);
  await decide(second, "approve");
  await d.reaches("connected");
});

test("a device restarted after registration reuses its token and starts no operation", async () => {
  const first = device({ token: await token(), deviceId: "e2e-restart" });
  await decide(await first.displayed(), "approve");
  await first.reaches("connected");
  first.stop();
  const again = device({ token: "pt_not-needed-any-more", stateDir: first.stateDir });
  await again.reaches("connected");
  expect(again.displays).toEqual([]);
  await again.client.send("telemetry", new Uint8Array([1]));
  const { body } = await platform.api("GET", "/api/operations");
  expect(body.operations).toHaveLength(1);
});

test("two devices provision on one shared token", async () => {
  const shared = await token();
  const a = device({ token: shared, deviceId: "e2e-twin-a" });
  const b = device({ token: shared, deviceId: "e2e-twin-b" });
  const [displayA, displayB] = await Promise.all([a.displayed(), b.displayed()]);
  expect(displayA.operationId).not.toBe(displayB.operationId);
  await decide(displayB, "approve");
  await decide(displayA, "approve");
  await Promise.all([a.reaches("connected"), b.reaches("connected")]);
  await Promise.all([a.client.send("s", new Uint8Array([0xa])), b.client.send("s", new Uint8Array([0xb]))]);
  const bytes = async (deviceId: string) =>
    (await storedMessages(deviceId)).map((m) => [...Buffer.from(m.payloadBase64, "base64")]);
  expect(await bytes("e2e-twin-a")).toEqual([[0xa]]);
  expect(await bytes("e2e-twin-b")).toEqual([[0xb]]);
});

test("a proxy that rewrites the platform's nonce makes the device report verification-mismatch", async () => {
  let tampered = 0;
  const proxy = await TcpProxy.start(platform.mqttPort, (packet) => {
    const text = packet.toString("latin1");
    const at = text.indexOf('"nonce":"');
    if (!text.includes("/res/init") || at < 0) return packet;
    const copy = Buffer.from(packet);
    const i = at + '"nonce":"'.length;
    copy[i] = copy[i] === 0x41 ? 0x42 : 0x41; // same length, another base64url character
    tampered++;
    return copy;
  });
  proxies.push(proxy);
  const d = device({ token: await token(), deviceId: "e2e-tampered", port: proxy.port });
  expect(await d.reaches("failed")).toBe("verification-mismatch");
  expect(tampered).toBeGreaterThan(0);
  expect(d.displays).toHaveLength(1);
});

test("a platform restart in the middle of an operation loses nothing", async () => {
  const proxy = await TcpProxy.start(platform.mqttPort);
  proxies.push(proxy);
  const d = device({ token: await token(), deviceId: "e2e-platform-restart", port: proxy.port });
  const display = await d.displayed();
  await codeShown(display);
  const dataDir = platform.dataDir;
  await platform.stop({ keepData: true });
  proxy.cut();
  platform = await startTestPlatform({ dataDir });
  proxy.upstreamPort = platform.mqttPort;
  await decide(display, "approve");
  await d.reaches("connected", 40000);
  expect(d.displays.map((x) => x.operationId)).toEqual([display.operationId]);
});
