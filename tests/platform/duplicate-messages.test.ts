/**
 * A QoS 1 message whose PUBACK was lost is resent with DUP on the next connection; the platform
 * stores it once (docs/protocol.md 2a). Real platform process; the SDK's DeviceClient behind a proxy that
 * loses the PUBACK, and MQTT.js with a fixed message id for the cases a device does not make on cue,
 * naming the id in the topic as version 2 does. Against the cluster mode too (the jest project
 * `cluster`), where a message is stored a moment after its PUBACK.
 */
import type mqtt from "mqtt";
import { parser, type Packet } from "mqtt-packet";
import { decide } from "../../testkit/e2e/technician";
import { TestDevice } from "../../testkit/e2e/test-device";
import { eventually } from "../../testkit/node/eventually";
import { TEST_MODE, embeddedOnly, startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { TcpProxy } from "../../testkit/node/tcp-proxy";
import { connect, newToken, provision, type Connected } from "../../testkit/platform/mqtt-device";

jest.setTimeout(30_000);

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform.stop();
});

async function storedNow(deviceId: string): Promise<string[]> {
  const { body } = await platform.api("GET", `/api/messages?device=${deviceId}`);
  return body.messages
    .map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString())
    .reverse();
}

/**
 * What the platform stored for a device once `count` messages are there. Embedded, a PUBACK comes
 * after the commit; through a clustered broker the message is stored a moment after it: there, the
 * list is read once `count` are stored and again a while after, so that a message stored twice
 * has had the time to show.
 */
async function stored(deviceId: string, count: number): Promise<string[]> {
  if (TEST_MODE === "embedded") return storedNow(deviceId);
  await eventually(async () => (await storedNow(deviceId)).length >= count, `${count} messages of ${deviceId}`);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return storedNow(deviceId);
}

/** The PUBLISH packets in the bytes a client sent on one connection. */
function publishesIn(chunks: Buffer[]): Packet[] {
  const found: Packet[] = [];
  const packets = parser({ protocolVersion: 4 });
  packets.on("packet", (packet: Packet) => {
    if (packet.cmd === "publish") found.push(packet);
  });
  packets.parse(Buffer.concat(chunks));
  return found;
}

test("the SDK's resend after a lost PUBACK is stored once and its send resolves", async () => {
  const proxy = await TcpProxy.start(platform.mqttPort);
  const device = new TestDevice({ port: proxy.port, token: await newToken(platform), deviceId: "dup-sdk-0001" });
  try {
    await decide(platform, await device.displayed(), "approve");
    await device.reaches("connected");
    const firstLink = proxy.sent.length - 1;

    proxy.swallowReplies = true;
    let sent = false;
    const send = device.client.send("telemetry", new TextEncoder().encode("once")).then(() => (sent = true));
    await eventually(async () => (await storedNow("dup-sdk-0001")).length > 0, "the platform to store the message", {
      timeoutMs: 10_000,
    });
    proxy.cut();
    proxy.swallowReplies = false;
    expect(sent).toBe(false); // the PUBACK was lost

    await send;
    expect(await stored("dup-sdk-0001", 1)).toEqual(["once"]);
    const [original] = publishesIn(proxy.sent[firstLink]).filter(
      (p) => p.cmd === "publish" && p.topic.includes("/msg/telemetry/"),
    );
    const resent = proxy.sent.slice(firstLink + 1).flatMap(publishesIn);
    const messageId = (original as { messageId: number }).messageId;
    // Protocol v2: the topic names the message's id, the same as its packet id.
    expect(original).toMatchObject({
      dup: false,
      qos: 1,
      topic: `ws/ws_default/dev/dup-sdk-0001/msg/telemetry/${messageId}`,
    });
    expect(resent).toContainEqual(
      expect.objectContaining({
        topic: `ws/ws_default/dev/dup-sdk-0001/msg/telemetry/${messageId}`,
        dup: true,
        messageId,
      }),
    );
  } finally {
    device.stop();
    await proxy.close();
  }
});

/** Numbers every publish 7, as a device whose ids came round again would. */
const messageIdSeven: NonNullable<mqtt.IClientOptions["messageIdProvider"]> = {
  allocate: () => 7,
  getLastAllocated: () => 7,
  register: () => true,
  deallocate: () => {},
  clear: () => {},
};

async function connectWithIdSeven(deviceId: string, token: string): Promise<Connected> {
  const clientId = `ws_default:${deviceId}`;
  return connect(platform.mqttUrl, {
    clientId,
    username: clientId,
    password: token,
    clean: false,
    messageIdProvider: messageIdSeven,
  });
}

test("only a DUP resend of the same id and bytes is skipped; ids are reused, and each device has its own", async () => {
  const token = await newToken(platform);
  const first = await provision(platform, token, "dup-ids-0001");
  const second = await provision(platform, token, "dup-ids-0002");
  const a = await connectWithIdSeven("dup-ids-0001", first.token);
  const topic = "ws/ws_default/dev/dup-ids-0001/msg/log/7";
  await a.client.publishAsync(topic, "a", { qos: 1 });
  await a.client.publishAsync(topic, "a", { qos: 1 }); // a new message reusing id 7
  expect(await stored("dup-ids-0001", 2)).toEqual(["a", "a"]);
  expect((await a.client.publishAsync(topic, "a", { qos: 1, dup: true }))?.messageId).toBe(7); // acknowledged
  expect(await stored("dup-ids-0001", 2)).toEqual(["a", "a"]);
  await a.client.publishAsync(topic, "b", { qos: 1, dup: true }); // a resend of one never stored
  await a.client.publishAsync("ws/ws_default/dev/dup-ids-0001/msg/other/7", "b", { qos: 1, dup: true });
  expect(await stored("dup-ids-0001", 4)).toEqual(["a", "a", "b", "b"]);
  await a.client.endAsync();

  const b = await connectWithIdSeven("dup-ids-0002", second.token);
  await b.client.publishAsync("ws/ws_default/dev/dup-ids-0002/msg/log/7", "a", { qos: 1, dup: true });
  expect(await stored("dup-ids-0002", 1)).toEqual(["a"]);
  await b.client.endAsync();
});

test("a device revoked and provisioned again starts with no memory of its messages", async () => {
  const token = await newToken(platform);
  const first = await provision(platform, token, "dup-again-01");
  const topic = "ws/ws_default/dev/dup-again-01/msg/log/7";
  const before = await connectWithIdSeven("dup-again-01", first.token);
  await before.client.publishAsync(topic, "a", { qos: 1 });
  await before.client.publishAsync(topic, "a", { qos: 1, dup: true });
  await before.client.endAsync();
  expect(await stored("dup-again-01", 1)).toEqual(["a"]);

  expect((await platform.api("POST", "/api/devices/dup-again-01/revoke")).status).toBe(200);
  const again = await provision(platform, token, "dup-again-01", first.keys);
  const after = await connectWithIdSeven("dup-again-01", again.token);
  await after.client.publishAsync(topic, "a", { qos: 1, dup: true });
  await after.client.endAsync();
  expect(await stored("dup-again-01", 2)).toEqual(["a", "a"]);
});

/** Numbers publishes 1, 2, 3… as MQTT.js would, but restartable at 1 for the resends. */
function countingIds(): NonNullable<mqtt.IClientOptions["messageIdProvider"]> & { next: number } {
  const provider = {
    next: 1,
    allocate: () => provider.next++,
    getLastAllocated: () => provider.next - 1,
    register: () => true,
    deallocate: () => {},
    clear: () => {},
  };
  return provider;
}

test("with 64 messages in flight every DUP resend is recognised (no window of 16)", async () => {
  const token = await newToken(platform);
  const { token: registration } = await provision(platform, token, "dup-window-01");
  const ids = countingIds();
  const clientId = "ws_default:dup-window-01";
  const device = await connect(platform.mqttUrl, {
    clientId,
    username: clientId,
    password: registration,
    clean: false,
    messageIdProvider: ids,
  });
  // Each message's topic names its id, as its packet does (1 to 64, then again for the resends).
  const topic = (i: number) => `ws/ws_default/dev/dup-window-01/msg/log/${i + 1}`;
  const bodies = Array.from({ length: 64 }, (_, i) => `m${i}`);
  await Promise.all(bodies.map((body, i) => device.client.publishAsync(topic(i), body, { qos: 1 })));
  ids.next = 1;
  await Promise.all(bodies.map((body, i) => device.client.publishAsync(topic(i), body, { qos: 1, dup: true })));
  await device.client.endAsync();
  expect((await stored("dup-window-01", 64)).sort()).toEqual([...bodies].sort());
});

// The cluster's workers hold no state to lose: tests/cluster kills one under load, and its resends.
embeddedOnly("a DUP resend after a platform restart is recognised", async () => {
  const own = await startTestPlatform();
  let restarted: TestPlatform | undefined;
  try {
    const token = await newToken(own);
    const { token: registration } = await provision(own, token, "dup-restart-1");
    const clientId = "ws_default:dup-restart-1";
    const login = {
      clientId,
      username: clientId,
      password: registration,
      clean: false,
      messageIdProvider: messageIdSeven,
    };
    const topic = "ws/ws_default/dev/dup-restart-1/msg/log/7";
    const before = await connect(own.mqttUrl, login);
    await before.client.publishAsync(topic, "kept", { qos: 1 });
    await before.client.endAsync();
    await own.stop({ keepData: true });

    restarted = await startTestPlatform({ dataDir: own.dataDir });
    const after = await connect(restarted.mqttUrl, login);
    await after.client.publishAsync(topic, "kept", { qos: 1, dup: true });
    await after.client.endAsync();
    const { body } = await restarted.api("GET", "/api/messages?device=dup-restart-1");
    expect(
      body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString()),
    ).toEqual(["kept"]);
  } finally {
    await (restarted ?? own).stop();
  }
});
