/**
 * The registration token lifecycle on the platform (docs/protocol.md 2b, 2c): refresh with grace,
 * expiry, revocation, deletion, provisioning again, and the abuse limits. Real platform process
 * (aedes, SQLite), devices played by MQTT.js + tweetnacl.
 */
import {
  NOT_AUTHORIZED_CODE,
  embeddedOnly,
  startTestPlatform,
  storedMessages,
  type TestPlatform,
} from "../../testkit/node/platform";
import {
  DeviceKeys,
  ProvisioningDevice,
  RegisteredDevice,
  approvedOperation,
  closedByBroker,
  connackCode,
  connect,
  newToken,
  provision,
  provisioningLogin,
  registeredLogin,
} from "../../testkit/platform/mqtt-device";

const GRACE_MS = 300_000;
let platform: TestPlatform;
let sharedToken: string;

beforeAll(async () => {
  platform = await startTestPlatform();
  sharedToken = await newToken(platform);
});
afterAll(async () => {
  await platform.stop();
});

const registeredCode = (deviceId: string, password: string, on = platform) =>
  connackCode(on.mqttUrl, registeredLogin("ws_default", deviceId, password));

/**
 * The token status: `seconds` left as of `since` (Date.now() then), less the seconds this machine
 * took since, which the platform's clock counted too (however busy the machine is).
 */
async function expectSecondsLeft(session: RegisteredDevice, seconds: number, since: number): Promise<void> {
  const reply = await session.token("status");
  const passed = Math.ceil((Date.now() - since) / 1000);
  expect(reply).toMatchObject({ status: 200 });
  expect(reply.expiresIn).toBeLessThanOrEqual(seconds);
  expect(reply.expiresIn).toBeGreaterThanOrEqual(seconds - passed);
}

test("refresh: the new token opens only with the device key and connects; the old one ends when it is used", async () => {
  const { keys, token } = await provision(platform, sharedToken, "refresh-0001");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "refresh-0001", token);
  const refreshedAt = Date.now();
  const reply = await session.token("refresh");
  expect(reply).toMatchObject({ status: 200, expiresIn: 30 * 86400, graceIn: GRACE_MS / 1000 });
  expect(new DeviceKeys().open(reply.registration)).toBeUndefined();
  const renewed = keys.open(reply.registration)!;
  expect(renewed).toMatch(/^rt_/);
  expect(renewed).not.toBe(token);
  await expectSecondsLeft(session, GRACE_MS / 1000, refreshedAt);
  await session.end();

  expect(await registeredCode("refresh-0001", token)).toBe(0); // within the grace, not yet replaced
  const next = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "refresh-0001", renewed);
  await expectSecondsLeft(next, 30 * 86400, refreshedAt);
  await next.end();
  expect(await registeredCode("refresh-0001", token)).toBe(NOT_AUTHORIZED_CODE);
  expect(await registeredCode("refresh-0001", renewed)).toBe(0);
});

// The cluster's workers run on wall time: no clock to move (here and below).
embeddedOnly("without the new token in use, the old one works until the grace period ends", async () => {
  const { keys, token } = await provision(platform, sharedToken, "refresh-0002");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "refresh-0002", token);
  const refreshedAt = Date.now();
  const renewed = keys.open((await session.token("refresh")).registration)!;
  const closed = closedByBroker(session.client);
  await platform.advanceClock(GRACE_MS - 10_000);
  await expectSecondsLeft(session, 10, refreshedAt);
  await platform.advanceClock(10_000);
  expect(await closed).toBe(true); // the session on the old token ends with its grace
  expect(await registeredCode("refresh-0002", token)).toBe(NOT_AUTHORIZED_CODE);
  expect(await registeredCode("refresh-0002", renewed)).toBe(0);
});

// Rate limits are each worker's own in the cluster: two workers allow twice the refreshes.
embeddedOnly("a refresh repeated before the new token is used replaces it; refreshes are rate-limited", async () => {
  const { keys, token } = await provision(platform, sharedToken, "refresh-0003");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "refresh-0003", token);
  const firstRefreshAt = Date.now();
  const issued: string[] = [];
  for (let i = 0; i < 6; i++) issued.push(keys.open((await session.token("refresh")).registration)!);
  expect(await session.token("refresh")).toMatchObject({
    status: 429,
    error: "rate-limited",
    retryAfter: expect.any(Number),
  });
  await expectSecondsLeft(session, GRACE_MS / 1000, firstRefreshAt); // the grace never grows
  await session.end();

  const db = await platform.openDatabase();
  const rows = (await db.get<{ n: number }>(
    "SELECT COUNT(*) AS n FROM registration_tokens WHERE device_id = ?",
    "refresh-0003",
  ))!;
  await db.close();
  expect(rows.n).toBe(2);
  for (const replaced of [issued[0], issued[4]]) expect(await registeredCode("refresh-0003", replaced)).toBe(4);
  expect(await registeredCode("refresh-0003", issued[issued.length - 1])).toBe(0);
  expect(await registeredCode("refresh-0003", token)).toBe(NOT_AUTHORIZED_CODE);
});

test("a stolen registration token connects until revocation, and refreshes into nothing usable", async () => {
  const device = await provision(platform, sharedToken, "stolen-0001");
  const attackerKeys = new DeviceKeys();
  const attacker = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "stolen-0001", device.token);
  const refreshed = await attacker.token("refresh");
  expect(refreshed.status).toBe(200);
  expect(attackerKeys.open(refreshed.registration)).toBeUndefined();
  const sealedForDevice = device.keys.open(refreshed.registration)!;

  const closed = closedByBroker(attacker.client);
  const revoked = await platform.api("POST", "/api/devices/stolen-0001/revoke");
  expect(revoked).toMatchObject({ status: 200, body: { deviceId: "stolen-0001", revokedAt: expect.any(String) } });
  expect(await closed).toBe(true);
  await attacker.end();
  expect(await registeredCode("stolen-0001", device.token)).toBe(NOT_AUTHORIZED_CODE);
  expect(await registeredCode("stolen-0001", sealedForDevice)).toBe(NOT_AUTHORIZED_CODE);
});

test("after revocation the device provisions again and may keep its Device ID; another key may take a revoked ID", async () => {
  const first = await provision(platform, sharedToken, "again-0001");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "again-0001", first.token);
  const closed = closedByBroker(session.client);
  await platform.api("POST", "/api/devices/again-0001/revoke");
  expect(await closed).toBe(true);
  await session.end();

  const again = await provision(platform, sharedToken, "again-0001", first.keys);
  expect(await registeredCode("again-0001", again.token)).toBe(0);
  const devices = (await platform.api("GET", "/api/devices")).body.devices;
  expect(devices.find((d: any) => d.deviceId === "again-0001")).toMatchObject({
    revokedAt: null,
    publicKey: first.keys.publicKey,
  });

  // Active: another key is refused the ID. Revoked: the technician may give it to another key.
  const other = await ProvisioningDevice.connect(platform.mqttUrl, sharedToken);
  expect(await other.init({ deviceId: "again-0001" })).toMatchObject({ status: 409, error: "device-id-taken" });
  await other.end();
  await platform.api("POST", "/api/devices/again-0001/revoke");
  const replacement = await provision(platform, sharedToken, "again-0001");
  expect(await registeredCode("again-0001", replacement.token)).toBe(0);
  expect(await registeredCode("again-0001", again.token)).toBe(NOT_AUTHORIZED_CODE);
});

test("revoking withdraws an approval the device has not fetched yet", async () => {
  const { device, operationId } = await approvedOperation(platform, sharedToken, "unfetched-1");
  await platform.api("POST", "/api/devices/unfetched-1/revoke");
  expect(await device.complete(operationId, false)).toMatchObject({ status: 410, error: "operation-rejected" });
  await device.end();
});

test("devices delete closes the session, refuses the token and frees the Device ID", async () => {
  const { token } = await provision(platform, sharedToken, "delete-0001");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "delete-0001", token);
  await session.client.publishAsync(`${session.root}/msg/log`, "kept", { qos: 1 });
  const closed = closedByBroker(session.client);
  expect(await platform.api("DELETE", "/api/devices/delete-0001")).toMatchObject({
    status: 200,
    body: { deviceId: "delete-0001" },
  });
  expect(await closed).toBe(true);
  await session.end();
  expect(await registeredCode("delete-0001", token)).toBe(4);
  const devices = (await platform.api("GET", "/api/devices")).body.devices;
  expect(devices.map((d: any) => d.deviceId)).not.toContain("delete-0001");
  expect(await storedMessages(platform, "device=delete-0001", 1)).toHaveLength(1);
  expect(await platform.api("DELETE", "/api/devices/delete-0001")).toMatchObject({
    status: 404,
    body: { error: "unknown-device" },
  });

  const newcomer = await provision(platform, sharedToken, "delete-0001");
  expect(await registeredCode("delete-0001", newcomer.token)).toBe(0);
});

embeddedOnly("an expired token is refused at CONNECT and a connected session is closed at expiry", async () => {
  const shortLived = await newToken(platform, { registrationLifetime: 120 });
  const provisionedAt = Date.now();
  const { token } = await provision(platform, shortLived, "expiry-0001");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "expiry-0001", token);
  await expectSecondsLeft(session, 120, provisionedAt);
  const closed = closedByBroker(session.client);
  await platform.advanceClock(121_000);
  expect(await closed).toBe(true);
  await session.end();
  expect(await registeredCode("expiry-0001", token)).toBe(NOT_AUTHORIZED_CODE);
});

// The cluster finds provisioning sessions seconds late: tests/cluster waits for it.
embeddedOnly("tokens revoke closes the token's provisioning sessions and stops new ones", async () => {
  const created = (await platform.api("POST", "/api/tokens", {})).body;
  const device = await ProvisioningDevice.connect(platform.mqttUrl, created.token);
  const closed = closedByBroker(device.client);
  await platform.api("POST", `/api/tokens/${created.id}/revoke`);
  expect(await closed).toBe(true);
  await device.end();
  expect(await connackCode(platform.mqttUrl, provisioningLogin(device.keys, created.token))).toBe(NOT_AUTHORIZED_CODE);
});

// A platform of its own, with limits of its own.
embeddedOnly("a token's pending operations are capped; a device resuming its operation is not refused", async () => {
  const own = await startTestPlatform({
    initLimits: { pendingPerToken: 5, perAddress: { limit: 1000, windowMs: 60_000 } },
  });
  try {
    const token = await newToken(own);
    const first = await ProvisioningDevice.connect(own.mqttUrl, token);
    const kept = await first.init();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const device = await ProvisioningDevice.connect(own.mqttUrl, token);
      statuses.push((await device.init()).status);
      await device.end();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    expect(await first.init({ operationId: kept.operationId })).toMatchObject({
      status: 200,
      operationId: kept.operationId,
    });
    const refused = await (await ProvisioningDevice.connect(own.mqttUrl, token)).init();
    expect(refused).toMatchObject({ status: 429, error: "too-many-pending", retryAfter: expect.any(Number) });
    await first.end();
  } finally {
    await own.stop();
  }
});

/** Settles with the CONNACK code and the order in which attempts settled. */
function attempt(order: string[], name: string, code: Promise<number>): Promise<number> {
  return code.then((c) => {
    order.push(name);
    return c;
  });
}

test("failed CONNECTs from one client ID are slowed down; its real device and other clients are not", async () => {
  const victim = await provision(platform, sharedToken, "abused-0001");
  for (let i = 0; i < 5; i++) expect(await registeredCode("abused-0001", `rt_guess${i}`)).toBe(4);
  const order: string[] = [];
  const slowed = attempt(order, "guess", registeredCode("abused-0001", "rt_guess5"));
  expect(await attempt(order, "device", registeredCode("abused-0001", victim.token))).toBe(0);
  expect(
    await attempt(order, "other", connackCode(platform.mqttUrl, provisioningLogin(new DeviceKeys(), sharedToken))),
  ).toBe(0);
  expect(await slowed).toBe(4);
  expect(order).toEqual(["device", "other", "guess"]);
});

test("failed CONNECTs with one refused provisioning token are slowed down; another token is not", async () => {
  const created = (await platform.api("POST", "/api/tokens", {})).body;
  await platform.api("POST", `/api/tokens/${created.id}/revoke`);
  const refused = (keys: DeviceKeys) => connackCode(platform.mqttUrl, provisioningLogin(keys, created.token));
  for (let i = 0; i < 5; i++) expect(await refused(new DeviceKeys())).toBe(NOT_AUTHORIZED_CODE);
  const order: string[] = [];
  const slowed = attempt(order, "revoked", refused(new DeviceKeys()));
  const fine = await connect(platform.mqttUrl, provisioningLogin(new DeviceKeys(), sharedToken));
  order.push("other");
  await fine.client.endAsync();
  expect(await slowed).toBe(NOT_AUTHORIZED_CODE);
  expect(order).toEqual(["other", "revoked"]);
});

// A restart on the same data directory (the cluster's workers are stateless: tests/cluster kills one).
embeddedOnly("a platform restart during a refresh loses nothing", async () => {
  const { keys, token } = await provision(platform, sharedToken, "restart-0002");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "restart-0002", token);
  const renewed = keys.open((await session.token("refresh")).registration)!;
  await session.end();
  await platform.stop({ keepData: true });

  platform = await startTestPlatform({ dataDir: platform.dataDir, clockOffsetMs: platform.clockOffsetMs });
  expect(await registeredCode("restart-0002", token)).toBe(0); // still within its grace
  expect(await registeredCode("restart-0002", renewed)).toBe(0);
  expect(await registeredCode("restart-0002", token)).toBe(NOT_AUTHORIZED_CODE);
});
