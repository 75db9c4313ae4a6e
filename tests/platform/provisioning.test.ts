/** Provisioning end to end: real platform process, devices played by MQTT.js + tweetnacl. */
import {
  NOT_AUTHORIZED_CODE,
  embeddedOnly,
  startTestPlatform,
  storedMessages,
  type TestPlatform,
} from "../../testkit/node/platform";
import { verificationCode } from "../../simulator/platform/protocol";
import {
  ProvisioningDevice,
  RegisteredDevice,
  b64,
  connectRegistered,
  connackCode,
  newToken,
  provision,
  provisioningLogin,
  unb64,
} from "../../testkit/platform/mqtt-device";

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform.stop();
});

/** init + reveal; checks the platform's code is the one the device computes. */
async function startOperation(device: ProvisioningDevice, init: Record<string, unknown> = {}) {
  const reply = await device.init(init);
  expect(reply).toMatchObject({ status: 200, expiresIn: 900, pollInterval: 5 });
  const code = verificationCode(
    device.keys.keyPair.publicKey,
    device.keys.deviceNonce,
    unb64(reply.nonce),
    reply.operationId,
  );
  const revealed = await device.complete(reply.operationId);
  expect(revealed).toEqual({
    rid: expect.any(String),
    status: 202,
    operationId: reply.operationId,
    retryAfter: 5,
    verificationCode: code,
  });
  return { operationId: reply.operationId as string, code };
}

test("full provisioning: approve by code, push, registered session, status, message stored", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const { operationId, code } = await startOperation(device, {
    deviceId: "pump-0042",
    attributes: { model: "esp32-devkitc" },
  });

  const listed = await platform.api("GET", "/api/operations?state=pending");
  expect(listed.body.operations.find((o: any) => o.id === operationId)).toMatchObject({
    verificationCode: code,
    requestedDeviceId: "pump-0042",
    attributes: { model: "esp32-devkitc" },
  });
  const pushed = device.pushed(operationId);
  const approved = await platform.api("POST", `/api/operations/${code.toLowerCase()}/approve`, {});
  expect(approved.body).toMatchObject({ id: operationId, state: "approved", deviceId: "pump-0042" });

  const push = await pushed;
  expect(push).toMatchObject({
    rid: null,
    status: 200,
    operationId,
    workspaceId: "ws_default",
    deviceId: "pump-0042",
    expiresIn: 2592000,
  });
  expect(unb64(push.registration.nonce)).toHaveLength(24);
  const token = device.keys.open(push.registration)!;
  expect(token).toMatch(/^rt_/);
  await device.end();

  const registered = await connectRegistered(platform.mqttUrl, "ws_default", "pump-0042", token);
  const root = "ws/ws_default/dev/pump-0042";
  await registered.client.subscribeAsync(`${root}/res/+`, { qos: 1 });
  await registered.client.publishAsync(`${root}/req/token`, JSON.stringify({ v: 1, rid: "7", op: "status" }), {
    qos: 1,
  });
  const status = await registered.inbox.next((m) => m.topic === `${root}/res/token`);
  expect(status.body).toEqual({ rid: "7", status: 200, expiresIn: expect.any(Number) });
  expect(status.body.expiresIn).toBeGreaterThan(2592000 - 60);

  const packet = await registered.client.publishAsync(`${root}/msg/telemetry`, Buffer.from([0, 1, 2, 255]), { qos: 1 });
  expect(packet?.messageId).toBeDefined(); // resolved by the PUBACK
  const messages = await storedMessages(platform, "device=pump-0042&stream=telemetry", 1);
  expect(messages).toHaveLength(1);
  expect(Buffer.from(messages[0].payloadBase64, "base64")).toEqual(Buffer.from([0, 1, 2, 255]));
  const devices = await platform.api("GET", "/api/devices");
  expect(devices.body.devices.find((d: any) => d.deviceId === "pump-0042")).toMatchObject({
    publicKey: device.keys.publicKey,
    lastSeenAt: expect.any(String),
  });
  await registered.client.endAsync();
});

test("the technician overrides the Device ID at approval; a taken ID is refused", async () => {
  const token = await newToken(platform);
  const first = await ProvisioningDevice.connect(platform.mqttUrl, token);
  const op1 = await startOperation(first, { deviceId: "asked-for" });
  const override = await platform.api("POST", `/api/operations/${op1.operationId}/approve`, { deviceId: "given-1" });
  expect(override.body.deviceId).toBe("given-1");
  expect(await first.complete(op1.operationId)).toMatchObject({ status: 200, deviceId: "given-1" });
  await first.end();

  const second = await ProvisioningDevice.connect(platform.mqttUrl, token);
  expect(await second.init({ deviceId: "given-1" })).toMatchObject({ status: 409, error: "device-id-taken" });
  const op2 = await startOperation(second);
  expect((await platform.api("POST", `/api/operations/${op2.operationId}/approve`, {})).body).toMatchObject({
    status: 400,
    error: "device-id-required",
  });
  expect(
    (await platform.api("POST", `/api/operations/${op2.operationId}/approve`, { deviceId: "given-1" })).body,
  ).toMatchObject({
    status: 409,
    error: "device-id-taken",
  });
  expect(
    (await platform.api("POST", `/api/operations/${op2.operationId}/approve`, { deviceId: "no" })).body,
  ).toMatchObject({
    status: 400,
    error: "invalid-device-id",
  });
  await second.end();
});

test("a device-specific token fixes the Device ID", async () => {
  const token = await newToken(platform, { deviceId: "fixed-0001", maxUses: 1 });
  const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
  expect(await device.init({ deviceId: "other-0001" })).toMatchObject({ status: 403, error: "device-id-not-allowed" });
  const { operationId } = await startOperation(device);
  await platform.api("POST", `/api/operations/${operationId}/approve`, {});
  expect(await device.complete(operationId)).toMatchObject({ status: 200, deviceId: "fixed-0001" });
  await device.end();
  // Used up now, yet the approved device may still come back for its token...
  const again = await ProvisioningDevice.connect(platform.mqttUrl, token, device.keys);
  const repeated = await again.complete(operationId);
  await again.end();
  // ...until it has connected with it.
  const registered = await connectRegistered(
    platform.mqttUrl,
    "ws_default",
    "fixed-0001",
    device.keys.open(repeated.registration)!,
  );
  await registered.client.endAsync();
  expect(await connackCode(platform.mqttUrl, provisioningLogin(device.keys, token))).toBe(NOT_AUTHORIZED_CODE);
});

test("rejection is pushed as 410 and polls answer the same", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const { operationId, code } = await startOperation(device, { deviceId: "reject-me" });
  const pushed = device.pushed(operationId);
  expect((await platform.api("POST", `/api/operations/${code}/reject`)).body.state).toBe("rejected");
  expect(await pushed).toMatchObject({ rid: null, status: 410, error: "operation-rejected", operationId });
  expect(await device.complete(operationId)).toMatchObject({ status: 410, error: "operation-rejected", operationId });
  expect((await platform.api("POST", `/api/operations/${operationId}/approve`, {})).body.error).toBe(
    "operation-not-pending",
  );
  await device.end();
});

// The cluster's workers run on wall time: no clock to move.
embeddedOnly("an operation expires on the platform's clock", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const { operationId } = await startOperation(device, { deviceId: "late-device" });
  await platform.advanceClock(901_000);
  expect(await device.complete(operationId)).toMatchObject({ status: 410, error: "operation-expired", operationId });
  expect((await platform.api("GET", "/api/operations?state=expired")).body.operations.map((o: any) => o.id)).toContain(
    operationId,
  );
  await device.end();
});

test("init resumes a pending operation by operationId, else starts a new one", async () => {
  const token = await newToken(platform);
  const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
  const first = await device.init();
  const resumed = await device.init({ operationId: first.operationId });
  expect(resumed).toMatchObject({ status: 200, operationId: first.operationId, nonce: first.nonce });
  const otherCommitment = await device.init({ operationId: first.operationId, commitment: b64(new Uint8Array(32)) });
  expect(otherCommitment.status).toBe(200);
  expect(otherCommitment.operationId).not.toBe(first.operationId);
  expect((await device.init({ operationId: "op_unknown" })).operationId).not.toBe(first.operationId);
  await device.end();
});

test("complete is idempotent until the registered connect, then consumed", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const { operationId } = await startOperation(device, { deviceId: "idem-0001" });
  await platform.api("POST", `/api/operations/${operationId}/approve`, {});
  const a = await device.complete(operationId);
  const b = await device.complete(operationId, false);
  expect(b.registration.sealed).not.toBe(a.registration.sealed); // sealed afresh
  const token = device.keys.open(a.registration)!;
  expect(device.keys.open(b.registration)).toBe(token);
  const registered = await connectRegistered(platform.mqttUrl, "ws_default", "idem-0001", token);
  await registered.client.endAsync();
  expect(await device.complete(operationId)).toMatchObject({ status: 410, error: "operation-consumed", operationId });
  await device.end();
});

test("two devices provision on one shared token", async () => {
  const token = await newToken(platform);
  const devices = await Promise.all([0, 1].map(() => ProvisioningDevice.connect(platform.mqttUrl, token)));
  const ops = await Promise.all(devices.map((d, i) => startOperation(d, { deviceId: `shared-${i}000` })));
  for (const op of ops) await platform.api("POST", `/api/operations/${op.code}/approve`, {});
  const replies = await Promise.all(devices.map((d, i) => d.complete(ops[i].operationId)));
  expect(replies.map((r) => r.deviceId)).toEqual(["shared-0000", "shared-1000"]);
  const tokens = replies.map((r, i) => devices[i].keys.open(r.registration));
  expect(tokens[0]).not.toBe(tokens[1]);
  // Each token opens only with its own device's key.
  expect(devices[1].keys.open(replies[0].registration)).toBeUndefined();
  await Promise.all(devices.map((d) => d.end()));
  const list = (await platform.api("GET", "/api/tokens")).body.tokens;
  expect(list.find((t: any) => t.uses === 2)).toBeDefined();
});

embeddedOnly("a poll faster than pollInterval gets 429 slow-down; a poll before the reveal gets 409", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const init = await device.init();
  expect(await device.complete(init.operationId, false)).toMatchObject({ status: 409, error: "reveal-required" });
  expect(
    (await platform.api("POST", `/api/operations/${init.operationId}/approve`, { deviceId: "early-0001" })).body.error,
  ).toBe("waiting-for-device");
  expect((await device.complete(init.operationId)).status).toBe(202);
  expect(await device.complete(init.operationId)).toMatchObject({ status: 429, error: "slow-down", retryAfter: 5 });
  await platform.advanceClock(5000);
  expect((await device.complete(init.operationId, false)).status).toBe(202);
  await device.end();
});

test("a reveal that does not match the commitment is refused and changes nothing", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const init = await device.init();
  const wrong = await device.request("complete", {
    operationId: init.operationId,
    deviceNonce: b64(new Uint8Array(16)),
  });
  expect(wrong).toMatchObject({ status: 400, error: "commitment-mismatch", operationId: init.operationId });
  expect(await device.complete(init.operationId)).toMatchObject({ status: 202, operationId: init.operationId });
  await device.end();
});

test("a Device ID with '.' speaks v2's topic form ('.' as '~'): it provisions, refreshes and sends", async () => {
  const { keys, token } = await provision(platform, await newToken(platform), "pump.0042.dot");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "pump.0042.dot", token);
  expect(session.root).toBe("ws/ws_default/dev/pump~0042~dot");
  expect(await session.token("status")).toMatchObject({ status: 200, expiresIn: expect.any(Number) });
  const refreshed = await session.token("refresh");
  expect(keys.open(refreshed.registration)).toMatch(/^rt_/);
  await session.client.publishAsync(session.messageTopic("site.a.flow", 32769), "21.5", { qos: 1 });
  const [stored] = await storedMessages(platform, "device=pump.0042.dot&stream=site.a.flow", 1);
  expect(stored).toMatchObject({ deviceId: "pump.0042.dot", stream: "site.a.flow" });
  await session.end();
});

embeddedOnly("a v1 device whose Device ID has '.' keeps its topics as they are on the embedded broker", async () => {
  // The embedded broker delivers topics as they were published: v1's dotted topics are whole.
  const { token } = await provision(platform, await newToken(platform), "pump.0043.v1");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "pump.0043.v1", token, 1);
  expect(session.root).toBe("ws/ws_default/dev/pump.0043.v1");
  expect(await session.token("status")).toMatchObject({ status: 200 });
  await session.client.publishAsync(session.messageTopic("site.b"), "v1", { qos: 1 });
  expect(await storedMessages(platform, "device=pump.0043.v1&stream=site.b", 1)).toHaveLength(1);
  await session.end();
});
