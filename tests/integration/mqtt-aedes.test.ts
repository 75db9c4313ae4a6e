/** The SDK's MQTT client on the Node ports against a real aedes broker. */
import { MqttConnectError } from "../../sdk/mqtt";
import { startAedes, type TestAedes } from "../../testkit/node/aedes-broker";
import { eventually } from "../../testkit/node/eventually";
import {
  checkReconnectAfterRestart,
  checkRoundTrip,
  clientRig,
  PASSWORD,
  texts,
} from "../../testkit/node/mqtt-client-rig";

let aedes: TestAedes;

beforeEach(async () => {
  aedes = await startAedes({ password: PASSWORD, dropFirstPublishOn: "rig/retx" });
});

afterEach(async () => {
  await aedes.stop();
});

test("connects, subscribes, publishes QoS 0 and 1 and receives its own messages", async () => {
  await checkRoundTrip(aedes.port);
});

test("persistent session: an unacked QoS 1 publish is resent with dup and the same id after the broker drops the link", async () => {
  const rig = clientRig(aedes.port, { clean: false });
  rig.client.start();
  await eventually(() => rig.client.state === "connected", "connected");
  await rig.subscribe("rig/retx");
  await rig.publish("rig/retx", "once", 1);
  // The broker's process reports over IPC, which may come after the PUBACK came over TCP.
  const published = () => aedes.events.filter((e) => e.kind === "publish");
  await eventually(() => published().length >= 2, "the broker's report of both publishes");
  const seen = published();
  expect(seen).toEqual([
    { kind: "publish", topic: "rig/retx", messageId: expect.any(Number), dup: false },
    { kind: "publish", topic: "rig/retx", messageId: (seen[0] as { messageId: number }).messageId, dup: true },
  ]);
  expect(rig.lost.length).toBe(1);
  expect(rig.connects).toEqual([false, true]);
  await eventually(() => rig.messages.length === 1, "the message delivered through the kept subscription");
  expect(texts(rig)).toEqual(["rig/retx once q1"]);
  await rig.stop();
});

test("a bad password gets CONNACK 4: onStop with MqttConnectError and no reconnect loop", async () => {
  const rig = clientRig(aedes.port, {
    password: new TextEncoder().encode("wrong"),
    reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
  });
  rig.client.start();
  await eventually(() => rig.stops.length === 1, "stopped");
  const error = rig.stops[0];
  expect(error).toBeInstanceOf(MqttConnectError);
  expect((error as MqttConnectError).returnCode).toBe(4);
  expect(rig.client.state).toBe("stopped");
  // Nothing scheduled: the client will never try again.
  expect(rig.pendingTimers()).toBe(0);
  const authentications = () => aedes.events.filter((e) => e.kind === "authenticate");
  await eventually(() => authentications().length >= 1, "the broker's report of the login");
  expect(authentications().length).toBe(1);
  expect(rig.lost).toEqual([]);
});

test("reconnects by itself after the broker restarts", async () => {
  await checkReconnectAfterRestart(aedes.port, () => aedes.restart());
});
