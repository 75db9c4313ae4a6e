/** The SDK's MQTT client on the Node ports against the real Mosquitto broker. */
import mqttPacket from "mqtt-packet";
import { MqttConnectError } from "../../sdk/mqtt";
import { eventually } from "../../testkit/node/eventually";
import { startMosquitto, type TestMosquitto } from "../../testkit/node/mosquitto";
import { checkReconnectAfterRestart, checkRoundTrip, clientRig, texts } from "../../testkit/node/mqtt-client-rig";
import { TcpProxy } from "../../testkit/node/tcp-proxy";

let mosquitto: TestMosquitto;

beforeEach(async () => {
  mosquitto = await startMosquitto();
});

afterEach(async () => {
  await mosquitto.stop();
});

/** The PUBLISH packets in what a client sent over one connection, parsed by mqtt-packet. */
function publishesIn(chunks: Buffer[]): { messageId?: number; dup: boolean; topic: string }[] {
  const found: { messageId?: number; dup: boolean; topic: string }[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on(
    "packet",
    (packet) =>
      packet.cmd === "publish" && found.push({ messageId: packet.messageId, dup: packet.dup, topic: packet.topic }),
  );
  for (const chunk of chunks) parser.parse(chunk);
  return found;
}

test("connects, subscribes, publishes QoS 0 and 1 and receives its own messages", async () => {
  await checkRoundTrip(mosquitto.port);
});

test("persistent session: a QoS 1 publish lost with the link is resent with dup and the same id", async () => {
  const proxy = await TcpProxy.start(mosquitto.port);
  const rig = clientRig(proxy.port, { clean: false });
  rig.client.start();
  await eventually(() => rig.client.state === "connected", "connected");
  await rig.subscribe("rig/retx");
  proxy.swallow = true;
  const acked = rig.publish("rig/retx", "once", 1);
  await eventually(() => publishesIn(proxy.sent[0]).length === 1, "the PUBLISH left the client");
  proxy.swallow = false;
  proxy.cut();
  await acked;
  const [first] = publishesIn(proxy.sent[0]);
  expect(first.dup).toBe(false);
  expect(publishesIn(proxy.sent[1])).toEqual([{ messageId: first.messageId, dup: true, topic: "rig/retx" }]);
  expect(rig.connects).toEqual([false, true]);
  await eventually(() => rig.messages.length === 1, "delivered once through the kept subscription");
  expect(texts(rig)).toEqual(["rig/retx once q1"]);
  await rig.stop();
  await proxy.close();
});

test("persistent session: messages published while the client was away arrive after it reconnects", async () => {
  const rig = clientRig(mosquitto.port, { clean: false });
  rig.client.start();
  await eventually(() => rig.client.state === "connected", "connected");
  await rig.subscribe("rig/queued");
  await rig.stop();
  const other = clientRig(mosquitto.port);
  other.client.start();
  await eventually(() => other.client.state === "connected", "the other client connected");
  await other.publish("rig/queued", "while away", 1);
  await other.stop();
  rig.client.start();
  await eventually(() => rig.messages.length === 1, "the queued message");
  expect(rig.connects).toEqual([false, true]);
  expect(texts(rig)).toEqual(["rig/queued while away q1"]);
  await rig.stop();
});

test("a broker that refuses anonymous clients gets CONNACK 5: onStop, no reconnect loop", async () => {
  const closed = await startMosquitto({ allowAnonymous: false });
  try {
    const rig = clientRig(closed.port, {
      username: undefined,
      password: undefined,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    rig.client.start();
    await eventually(() => rig.stops.length === 1, "stopped");
    expect(rig.stops[0]).toBeInstanceOf(MqttConnectError);
    expect((rig.stops[0] as MqttConnectError).returnCode).toBe(5);
    // Nothing scheduled: the client will never try again.
    expect(rig.pendingTimers()).toBe(0);
    expect(rig.states).toEqual(["connecting", "stopped"]);
  } finally {
    await closed.stop();
  }
});

test("reconnects by itself after the broker restarts", async () => {
  await checkReconnectAfterRestart(mosquitto.port, () => mosquitto.restart());
});
