/**
 * The registration token lifecycle of a real DeviceClient against the real platform (aedes,
 * SQLite, HTTP API in a child process) over TCP: refresh over many short lifetimes without a
 * reboot, revocation and provisioning again, expiry while powered off.
 */
import { join } from "node:path";
import { loadIdentity } from "../../sdk/identity";
import { FileRecordStore } from "../../targets/node/file-store";
import { connackCode } from "../../testkit/platform/mqtt-device";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import type { OperationDisplay } from "../../sdk/provisioning/provisioner";
import { createToken, decide } from "../../testkit/e2e/technician";
import { TestDevice } from "../../testkit/e2e/test-device";
import { JumpingClock } from "../../testkit/node/jumping-clock";

jest.setTimeout(60000);

let platform: TestPlatform;
const devices: TestDevice[] = [];

beforeEach(async () => {
  platform = await startTestPlatform();
});

afterEach(async () => {
  for (const device of devices.splice(0)) device.stop();
  await platform.stop();
});

function device(options: { token: string; deviceId?: string; stateDir?: string; clock?: JumpingClock }): TestDevice {
  const created = new TestDevice({ port: platform.mqttPort, ...options });
  devices.push(created);
  return created;
}

const token = (body?: Record<string, unknown>) => createToken(platform, body);
const approve = (display: OperationDisplay, body?: Record<string, unknown>) =>
  decide(platform, display, "approve", body);

/** The registration token the device has stored. */
function storedToken(d: TestDevice): string | undefined {
  return loadIdentity(new FileRecordStore(join(d.stateDir, "record.json")))?.registration?.token;
}

const refusedWith = (deviceId: string, password: string) =>
  connackCode(platform.mqttUrl, {
    clientId: `ws_default:${deviceId}`,
    username: `ws_default:${deviceId}`,
    password,
    clean: false,
  });

test("a device with a 10 s token refreshes over many lifetimes without a reboot; replaced tokens stop working", async () => {
  // The device's clock and the platform's move together, 5 s (half a lifetime) at a time: the
  // refresh is driven by time, the bytes still cross the real broker.
  const clock = new JumpingClock();
  const d = device({ token: await token({ registrationLifetime: 10 }), deviceId: "life-refresh", clock });
  await approve(await d.displayed());
  await d.reaches("connected");
  const registeredAt = d.states.length;
  const tokens = [storedToken(d)!];
  while (tokens.length < 5) {
    // The refresh is set once the token's status has come back, after each connect: a jump before
    // that would leave it behind.
    await d.until("the token's status", () => d.log.events("token-status").length >= tokens.length, 5000);
    await platform.advanceClock(5000);
    clock.advance(5000);
    await d.until("a refreshed token", () => storedToken(d) !== tokens[tokens.length - 1], 5000);
    tokens.push(storedToken(d)!);
  }
  await d.reaches("connected");
  expect(new Set(tokens).size).toBe(5);
  expect(d.states.slice(registeredAt).filter(([state]) => state !== "connecting" && state !== "connected")).toEqual([]);
  expect(d.displays).toHaveLength(1);
  await d.client.send("telemetry", new Uint8Array([1]));
  for (const old of tokens.slice(0, 3)) expect(await refusedWith("life-refresh", old)).not.toBe(0);
});

test("revocation: the device reports it, a new operation appears, and after approval it is back with the same Device ID", async () => {
  const d = device({ token: await token() });
  await approve(await d.displayed(), { deviceId: "life-revoked" });
  await d.reaches("connected");
  expect(d.client.deviceId).toBe("life-revoked");
  const revokedAt = Date.now();
  expect((await platform.api("POST", "/api/devices/life-revoked/revoke")).status).toBe(200);
  await d.until(
    "registration-rejected",
    () => d.states.some(([s, detail]) => s === "provisioning" && detail === "registration-rejected"),
    5000,
  );
  expect(Date.now() - revokedAt).toBeLessThan(5000);
  const again = await d.displayed(2);
  expect(again.operationId).not.toBe(d.displays[0].operationId);
  await approve(again);
  await d.reaches("connected");
  expect(d.client.deviceId).toBe("life-revoked");
  await d.client.send("telemetry", new Uint8Array([2]));
});

test("a token that expired while the device was powered off: it provisions again on boot", async () => {
  const provisioningToken = await token();
  const first = device({ token: provisioningToken, deviceId: "life-offline" });
  await approve(await first.displayed());
  await first.reaches("connected");
  const expired = storedToken(first)!;
  first.stop();
  await platform.advanceClock(31 * 86400 * 1000);
  const booted = device({ token: provisioningToken, stateDir: first.stateDir });
  await approve(await booted.displayed());
  await booted.reaches("connected");
  expect(booted.states[0]).toEqual(["connecting", undefined]);
  expect(booted.states).toContainEqual(["provisioning", "registration-rejected"]);
  expect(booted.client.deviceId).toBe("life-offline");
  expect(storedToken(booted)).not.toBe(expired);
  expect(await refusedWith("life-offline", expired)).toBe(5);
});

test("a revoked device whose provisioning token was revoked too stops with provisioning-token-refused", async () => {
  const { body: created } = await platform.api("POST", "/api/tokens", {});
  const clock = new JumpingClock();
  const d = device({ token: created.token, deviceId: "life-no-way-back", clock });
  await approve(await d.displayed());
  await d.reaches("connected");
  expect((await platform.api("POST", `/api/tokens/${created.id}/revoke`)).status).toBe(200);
  expect((await platform.api("POST", "/api/devices/life-no-way-back/revoke")).status).toBe(200);
  expect(await d.reaches("failed")).toBe("provisioning-token-refused");
  // Stopped for good: no timer left to wake it.
  expect(clock.pendingTimers).toBe(0);
});
