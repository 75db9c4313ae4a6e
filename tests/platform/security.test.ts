/** The broker's ACLs and credential checks, attacked with MQTT.js. */
import { NOT_AUTHORIZED_CODE, embeddedOnly, startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import {
  DeviceKeys,
  ProvisioningDevice,
  approvedOperation,
  closedByBroker,
  connackCode,
  connectRegistered,
  newToken,
  provision,
  provisioningLogin,
  subackCode,
} from "../../testkit/platform/mqtt-device";

let platform: TestPlatform;
let sharedToken: string;
/** Two registered devices, A and B, and A's provisioning keys. */
let a: { keys: DeviceKeys; token: string };
let bToken: string;

beforeAll(async () => {
  platform = await startTestPlatform();
  sharedToken = await newToken(platform);
  a = await provision(platform, sharedToken, "device-a");
  bToken = (await provision(platform, sharedToken, "device-b")).token;
});
afterAll(async () => {
  await platform.stop();
});

// RabbitMQ closes the connection instead of answering SUBACK 0x80: tests/cluster checks that.
embeddedOnly("a provisioning session cannot subscribe to another client's replies or anything else", async () => {
  const attacker = await ProvisioningDevice.connect(platform.mqttUrl, sharedToken);
  for (const topic of [
    `prov/${a.keys.clientId}/res/+`,
    "prov/+/res/+",
    "#",
    "ws/ws_default/dev/device-a/res/+",
    `prov/${attacker.keys.clientId}/req/+`,
  ]) {
    expect([topic, await subackCode(attacker.client, topic)]).toEqual([topic, 128]);
  }
  await attacker.end();
});

test.each([
  ["another client's request topic", (victim: string) => `prov/${victim}/req/init`],
  ["a message topic", () => "ws/ws_default/dev/device-a/msg/telemetry"],
  ["its own reply topic", (_v: string, self: string) => `prov/${self}/res/init`],
])("a provisioning session publishing to %s is closed", async (_name, topicOf) => {
  const attacker = await ProvisioningDevice.connect(platform.mqttUrl, sharedToken);
  const closed = closedByBroker(attacker.client);
  attacker.client.publish(topicOf(a.keys.clientId, attacker.keys.clientId), "{}", { qos: 1 });
  expect(await closed).toBe(true);
  await attacker.end();
});

embeddedOnly("device A cannot subscribe to or publish on device B's topics", async () => {
  const deviceA = await connectRegistered(platform.mqttUrl, "ws_default", "device-a", a.token);
  for (const topic of [
    "ws/ws_default/dev/device-b/res/+",
    "ws/ws_default/dev/device-b/cmd/#",
    "ws/ws_default/dev/+/res/+",
    "ws/#",
  ]) {
    expect([topic, await subackCode(deviceA.client, topic)]).toEqual([topic, 128]);
  }
  expect(await subackCode(deviceA.client, "ws/ws_default/dev/device-a/cmd/#")).toBe(1);
  expect(await subackCode(deviceA.client, "ws/ws_default/dev/device-a/res/+")).toBe(1);
  const closed = closedByBroker(deviceA.client);
  deviceA.client.publish("ws/ws_default/dev/device-b/msg/telemetry", "forged", { qos: 1 });
  expect(await closed).toBe(true);
  await deviceA.client.endAsync(true);
  const messages = await platform.api("GET", "/api/messages?device=device-b");
  expect(messages.body.messages).toEqual([]);
});

// RabbitMQ takes a retained publish like any other (docs/protocol.md 4).
embeddedOnly("a retained publish, even on an allowed topic, closes the session", async () => {
  const deviceA = await connectRegistered(platform.mqttUrl, "ws_default", "device-a", a.token);
  const closed = closedByBroker(deviceA.client);
  deviceA.client.publish("ws/ws_default/dev/device-a/msg/telemetry", "x", { qos: 1, retain: true });
  expect(await closed).toBe(true);
  await deviceA.client.endAsync(true);
});

test("bad passwords and mixed-up credentials are refused at CONNECT", async () => {
  const keys = new DeviceKeys();
  expect(await connackCode(platform.mqttUrl, provisioningLogin(keys, "pt_wrong"))).toBe(4);
  expect(await connackCode(platform.mqttUrl, provisioningLogin(keys, a.token))).toBe(4); // registration token as provisioning token
  const clientId = "ws_default:device-a";
  expect(await connackCode(platform.mqttUrl, { clientId, username: clientId, password: sharedToken })).toBe(4);
  expect(await connackCode(platform.mqttUrl, { clientId, username: clientId, password: bToken })).toBe(4); // B's token as A
  expect(await connackCode(platform.mqttUrl, { clientId, username: "ws_default:device-b", password: a.token })).toBe(4);
  expect(
    await connackCode(platform.mqttUrl, { clientId: "not-a-p-id", username: "provisioning", password: sharedToken }),
  ).toBe(NOT_AUTHORIZED_CODE);
  expect(await connackCode(platform.mqttUrl, { clientId, username: clientId, password: a.token })).toBe(0);
});

// A platform of its own, whose clock the test moves.
embeddedOnly("revoked, expired and used-up provisioning tokens are refused at CONNECT", async () => {
  // Its own platform: it moves the clock, which must not age the other tests' tokens.
  const own = await startTestPlatform();
  try {
    const keys = new DeviceKeys();
    const revoked = await own.api("POST", "/api/tokens", {});
    await own.api("POST", `/api/tokens/${revoked.body.id}/revoke`);
    expect(await connackCode(own.mqttUrl, provisioningLogin(keys, revoked.body.token))).toBe(5);

    const expiring = await newToken(own, { expiresIn: 60 });
    expect(await connackCode(own.mqttUrl, provisioningLogin(keys, expiring))).toBe(0);
    await own.advanceClock(61_000);
    expect(await connackCode(own.mqttUrl, provisioningLogin(keys, expiring))).toBe(5);

    const single = await newToken(own, { maxUses: 1 });
    await (await approvedOperation(own, single, "single-use")).device.end();
    expect(await connackCode(own.mqttUrl, provisioningLogin(keys, single))).toBe(5); // another device
    const list = (await own.api("GET", "/api/tokens")).body.tokens;
    expect(list.find((t: any) => t.id === revoked.body.id).state).toBe("revoked");
  } finally {
    await own.stop();
  }
});

test("a provisioning session may not claim another key's client ID in init", async () => {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, sharedToken);
  const other = new DeviceKeys();
  const reply = await device.request("init", { publicKey: other.publicKey, commitment: other.commitment });
  expect(reply).toMatchObject({ status: 400, error: "invalid-request" });
  await device.end();
});

test("another client cannot complete (or learn about) someone else's operation", async () => {
  const owner = await ProvisioningDevice.connect(platform.mqttUrl, sharedToken);
  const init = await owner.init();
  const attacker = await ProvisioningDevice.connect(platform.mqttUrl, sharedToken);
  expect(await attacker.complete(init.operationId)).toMatchObject({ status: 404, error: "unknown-operation" });
  await Promise.all([owner.end(), attacker.end()]);
});

test("a registered session is refused once its client ID does not match the username", async () => {
  const { client } = await connectRegistered(platform.mqttUrl, "ws_default", "device-a", a.token);
  await client.endAsync();
  expect(
    await connackCode(platform.mqttUrl, {
      clientId: "ws_default:device-x",
      username: "ws_default:device-a",
      password: a.token,
    }),
  ).toBe(4);
});
