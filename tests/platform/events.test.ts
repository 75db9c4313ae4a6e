/**
 * GET /api/events: what happens on the platform as server-sent events, for the console and for
 * scripts; each event names its object as the lists show it.
 */
import { followEvents, type EventStream, type StreamEvent } from "../../simulator/cli/event-stream";
import { eventually } from "../../testkit/node/eventually";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { ProvisioningDevice, connectRegistered, newToken, provision } from "../../testkit/platform/mqtt-device";

let platform: TestPlatform;
const streams: EventStream[] = [];
beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  for (const stream of streams) stream.close();
  await platform.stop();
});

async function follow(): Promise<{ events: { type: string; body: any }[] }> {
  const events: { type: string; body: any }[] = [];
  const stream = followEvents(`${platform.apiUrl}/api/events`, { adminKey: platform.adminKey }, (event: StreamEvent) =>
    events.push({ type: event.type, body: JSON.parse(event.data) }),
  );
  streams.push(stream);
  await stream.opened;
  return { events };
}

const seen = (events: { type: string }[], type: string) =>
  eventually(() => events.some((e) => e.type === type), `a ${type} event`, { detail: () => JSON.stringify(events) });

test("without the admin key the stream is refused", async () => {
  const stream = followEvents(`${platform.apiUrl}/api/events`, { adminKey: "wrong" }, () => undefined);
  await expect(stream.opened).rejects.toMatchObject({ status: 401 });
});

test("an operation's life, a device's sessions and its revocation, a token's creation and revocation", async () => {
  const { events } = await follow();
  const created = await platform.api("POST", "/api/tokens", { name: "evented" });
  await seen(events, "token-created");
  expect(events.find((e) => e.type === "token-created")!.body).toMatchObject({
    type: "token-created",
    id: expect.any(Number),
    at: expect.any(String),
    token: { id: created.body.id, name: "evented" },
  });
  expect(JSON.stringify(events)).not.toContain(created.body.token);

  const device = await ProvisioningDevice.connect(platform.mqttUrl, created.body.token);
  const init = await device.init({ deviceId: "evented-0001" });
  await seen(events, "operation-created");
  const revealed = await device.complete(init.operationId);
  await seen(events, "operation-revealed");
  expect(events.find((e) => e.type === "operation-revealed")!.body.operation).toMatchObject({
    id: init.operationId,
    state: "pending",
    revealed: true,
    verificationCode: revealed.verificationCode,
    requestedDeviceId: "evented-0001",
  });
  await platform.api("POST", `/api/operations/${revealed.verificationCode}/approve`, {});
  await seen(events, "operation-approved");
  await device.end();

  const { token } = await provision(platform, await newToken(platform), "evented-0002");
  const registered = await connectRegistered(platform.mqttUrl, "ws_default", "evented-0002", token);
  await seen(events, "device-connected");
  expect(events.find((e) => e.type === "device-connected")!.body.device).toEqual({
    workspaceId: "ws_default",
    deviceId: "evented-0002",
  });
  const listed = async () =>
    (await platform.api("GET", "/api/devices")).body.devices.find((d: any) => d.deviceId === "evented-0002").connected;
  expect(await listed()).toBe(true);
  const { body: devices } = await platform.api("GET", "/api/devices");
  expect(devices.devices.find((d: any) => d.deviceId === "evented-0002")).toMatchObject({
    tokenExpiresAt: expect.stringMatching(/^\d{4}-/),
    storedBytes: 0,
    storedMessages: 0,
  });
  await platform.api("POST", "/api/devices/evented-0002/revoke");
  await seen(events, "device-revoked");
  await seen(events, "device-disconnected");
  expect(await listed()).toBe(false);
  await registered.client.endAsync(true);

  await platform.api("POST", `/api/tokens/${created.body.id}/revoke`);
  await seen(events, "token-revoked");
  const ids = events.map((e) => e.body.id as number);
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
});

test("a rejection, and an expiry announced without anyone touching the operation", async () => {
  const { events } = await follow();
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const rejected = await device.init({ deviceId: "evented-0003" });
  await device.complete(rejected.operationId);
  await platform.api("POST", `/api/operations/${rejected.operationId}/reject`);
  await seen(events, "operation-rejected");
  await device.end();

  const waiting = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const expiring = await waiting.init({ deviceId: "evented-0004" });
  await platform.advanceClock(3600 * 1000);
  await seen(events, "operation-expired");
  expect(events.find((e) => e.type === "operation-expired")!.body.operation).toMatchObject({
    id: expiring.operationId,
    state: "expired",
  });
  await waiting.end();
});
