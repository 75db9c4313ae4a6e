import { Backoff } from "../../sdk/backoff";
import type { Random } from "../../sdk/ports";
import { MqttClient, type MqttClientOptions, type MqttClientState } from "../../sdk/mqtt/client";
import { MqttConnectError, MqttProtocolError } from "../../sdk/mqtt/errors";
import type { ClientPacket, PublishPacket, ServerPacket } from "../../sdk/mqtt/packets";
import { utf8Encode } from "../../sdk/utf8";
import { serverBytes } from "../../testkit/device/mqtt-wire";
import { RecordingLog } from "../../testkit/device/recording-log";
import { ScriptedTransport, type ScriptedConnection } from "../../testkit/device/scripted-transport";
import { SeededRandom } from "../../testkit/device/seeded-random";
import { VirtualClock } from "../../testkit/device/virtual-clock";
import { scenario, type Check } from "./harness";

const PASSWORD = "s3cret-token-value";

/** A client on scripted ports; every call it makes into the application is recorded in `calls`. */
function setup(options: Partial<MqttClientOptions> = {}, startTick?: number) {
  const clock = new VirtualClock(startTick);
  const transport = new ScriptedTransport();
  const log = new RecordingLog();
  const calls: string[] = [];
  const states: MqttClientState[] = [];
  const lost: Error[] = [];
  const stops: (Error | undefined)[] = [];
  const messages: PublishPacket[] = [];
  const client = new MqttClient({
    transport,
    clock,
    random: new SeededRandom(7),
    log,
    clientId: "device-1",
    username: "user",
    password: utf8Encode(PASSWORD),
    keepalive: 10,
    onStateChange: (state) => (states.push(state), calls.push(`state ${state}`)),
    onConnect: (sessionPresent) => calls.push(`connect ${sessionPresent}`),
    onMessage: (topic, _payload, packet) => (messages.push(packet), calls.push(`message ${topic}`)),
    onConnectionLost: (error) => (lost.push(error), calls.push(`lost ${error.name}`)),
    onStop: (error) => (stops.push(error), calls.push(`stop ${error?.name}`)),
    ...options,
  });
  return { clock, transport, log, client, calls, states, lost, stops, messages };
}

type Setup = ReturnType<typeof setup>;

function send(connection: ScriptedConnection, packet: ServerPacket): void {
  connection.deliver(serverBytes(packet));
}

/** Starts the client and completes the handshake; returns the open connection. */
function connect(check: Check, s: Setup, sessionPresent = false): ScriptedConnection {
  if (s.client.state === "stopped") s.client.start();
  check.equal(s.client.state, "connecting");
  const connection = s.transport.last;
  connection.open();
  check.equal(connection.take()[0]?.cmd, "connect", "CONNECT first");
  send(connection, { cmd: "connack", sessionPresent, returnCode: 0 });
  check.equal(s.client.state, "connected");
  return connection;
}

function errorCode(error: Error | undefined): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

/** Advances to just before the pending wake-up (nothing must happen), then onto it. */
function advanceToTimer(check: Check, s: Setup, maxMs: number): number {
  check.equal(s.clock.pendingTimers, 1, "one wake-up timer at a time");
  const delay = s.clock.nextTimerIn()!;
  check.ok(delay >= 0 && delay <= maxMs, `delay ${delay} within 0..${maxMs}`);
  const connections = s.transport.connections.length;
  if (delay > 0) {
    s.clock.advance(delay - 1);
    check.equal(s.transport.connections.length, connections, "no attempt before the delay");
  }
  s.clock.advance(delay > 0 ? 1 : 0);
  return delay;
}

const publishOf = (p: ClientPacket | undefined) => p as PublishPacket;

scenario("mqtt client: connects, sends CONNECT with the options, reports connected", (check) => {
  const s = setup({ clean: false, will: { topic: "w", payload: Uint8Array.of(1), qos: 1, retain: true } });
  s.client.start();
  check.equal(s.client.state, "connecting");
  check.equal(s.transport.connections.length, 1);
  s.transport.last.open();
  check.deepEqual(s.transport.last.take(), [
    {
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: "device-1",
      clean: false,
      keepalive: 10,
      username: "user",
      password: utf8Encode(PASSWORD),
      will: { topic: "w", payload: Uint8Array.of(1), qos: 1, retain: true },
    },
  ]);
  send(s.transport.last, { cmd: "connack", sessionPresent: true, returnCode: 0 });
  check.equal(s.client.state, "connected");
  check.deepEqual(s.calls, ["state connecting", "state connected", "connect true"]);
  check.ok(!s.log.text().includes(PASSWORD), "the password never reaches the log");
  check.equal(s.clock.pendingTimers, 1, "only the keep-alive timer");
});

scenario("mqtt client: setCredentials changes the next CONNECT", (check) => {
  const s = setup();
  const first = connect(check, s);
  s.client.setCredentials("other", Uint8Array.of(9, 9));
  first.end();
  advanceToTimer(check, s, 1000);
  s.transport.last.open();
  const packet = s.transport.last.take()[0];
  check.ok(packet.cmd === "connect" && packet.username === "other", "new username");
  check.deepEqual(packet.cmd === "connect" && packet.password, Uint8Array.of(9, 9));
});

scenario("mqtt client: connect timeout covers both the TCP open and the CONNACK", (check) => {
  const s = setup({ connectTimeoutMs: 5000 });
  s.client.start();
  s.clock.advance(4999);
  check.equal(s.client.state, "connecting");
  s.clock.advance(1);
  check.equal(s.client.state, "waiting");
  check.equal(errorCode(s.lost[0]), "connect-timeout");
  check.ok(s.transport.last.closedByClient, "the stalled link is closed");
  advanceToTimer(check, s, 1000);
  check.equal(s.transport.connections.length, 2, "a second attempt");
  s.transport.last.open();
  s.clock.advance(4999);
  check.equal(s.client.state, "connecting", "CONNECT sent, CONNACK not yet late");
  s.clock.advance(1);
  check.equal(errorCode(s.lost[1]), "connect-timeout");
  s.transport.connections[0].end();
  check.equal(s.lost.length, 2, "onClose of an abandoned link is ignored");
});

scenario("mqtt client: CONNACK 1..3 retry with exponential backoff and full jitter, reset after success", (check) => {
  const s = setup({ reconnect: { initialDelayMs: 1000, maxDelayMs: 8000 } });
  s.client.start();
  const ceilings = [1000, 2000, 4000, 8000, 8000, 8000];
  const delays: number[] = [];
  ceilings.forEach((ceiling, attempt) => {
    const returnCode = (attempt % 3) + 1;
    s.transport.last.open();
    send(s.transport.last, { cmd: "connack", sessionPresent: false, returnCode });
    check.equal(s.client.state, "waiting");
    const error = s.lost[attempt];
    check.ok(error instanceof MqttConnectError && error.returnCode === returnCode, `MqttConnectError ${returnCode}`);
    check.ok(s.transport.last.closedByClient, "refused link closed");
    delays.push(advanceToTimer(check, s, ceiling));
    check.equal(s.transport.connections.length, attempt + 2, "the next attempt");
  });
  check.ok(new Set(delays).size > 1, `jittered delays ${delays}`);
  const connection = connect(check, s);
  connection.end();
  advanceToTimer(check, s, 1000);
  check.equal(s.stops.length, 0);
});

for (const returnCode of [4, 5]) {
  scenario(`mqtt client: CONNACK ${returnCode} stops for good and fails what is pending`, (check) => {
    const s = setup();
    const results: (Error | undefined)[] = [];
    s.client.publish("t", Uint8Array.of(1), { qos: 1 }, (error) => results.push(error));
    s.client.start();
    s.transport.last.open();
    send(s.transport.last, { cmd: "connack", sessionPresent: false, returnCode });
    check.equal(s.client.state, "stopped");
    const error = s.stops[0];
    check.ok(error instanceof MqttConnectError && error.isAuthorizationFailure, "onStop(MqttConnectError)");
    check.equal(s.lost.length, 0, "not reported as a connection loss");
    check.equal(errorCode(results[0]), "stopped");
    check.equal(s.clock.pendingTimers, 0, "no timer left");
    s.clock.advance(24 * 3600 * 1000);
    check.equal(s.transport.connections.length, 1, "no retry, even a day later");
  });
}

scenario("mqtt client: a transport that throws on connect is a failed attempt", (check) => {
  const s = setup();
  s.transport.failNextConnect = new Error("no route");
  s.client.start();
  check.equal(s.client.state, "waiting");
  check.equal(s.lost[0]?.message, "no route");
  advanceToTimer(check, s, 1000);
  connect(check, s);
});

scenario("mqtt client: keep-alive PINGREQ after a quiet period, dead link detected", (check) => {
  const s = setup();
  const connection = connect(check, s);
  s.clock.advance(9999);
  check.deepEqual(connection.take(), []);
  s.clock.advance(1);
  check.deepEqual(connection.take(), [{ cmd: "pingreq" }]);
  send(connection, { cmd: "pingresp" });
  s.clock.advance(5000);
  s.client.publish("t", Uint8Array.of(), {});
  connection.take();
  s.clock.advance(4999);
  check.deepEqual(connection.take(), [], "probes 10 s after the server was last heard");
  s.clock.advance(1);
  check.deepEqual(connection.take(), [{ cmd: "pingreq" }]);
  s.clock.advance(14999);
  check.equal(s.client.state, "connected");
  s.clock.advance(1);
  check.equal(s.client.state, "waiting");
  check.equal(errorCode(s.lost[0]), "keepalive-timeout");
  check.ok(connection.closedByClient);
  check.equal(connection.writesAfterClose, 0);
});

scenario("mqtt client: keepalive 0 sends no pings", (check) => {
  const s = setup({ keepalive: 0 });
  const connection = connect(check, s);
  check.equal(s.clock.pendingTimers, 0);
  s.clock.advance(3600 * 1000);
  check.deepEqual(connection.take(), []);
  check.equal(s.client.state, "connected");
});

scenario("mqtt client: subscribe and unsubscribe, SUBACK with a refusal", (check) => {
  const s = setup();
  const results: unknown[] = [];
  s.client.subscribe([{ topic: "a", qos: 1 }], (error) => results.push(errorCode(error)));
  check.deepEqual(results, ["not-connected"]);
  const connection = connect(check, s);
  s.client.subscribe(
    [
      { topic: "a/+", qos: 1 },
      { topic: "b/#", qos: 0 },
    ],
    (error, granted) => results.push([error, granted]),
  );
  const subscribe = connection.take()[0];
  check.ok(subscribe.cmd === "subscribe" && subscribe.messageId > 0, "SUBSCRIBE with an id");
  const id = (subscribe as { messageId: number }).messageId;
  check.deepEqual((subscribe as { subscriptions: unknown }).subscriptions, [
    { topic: "a/+", qos: 1 },
    { topic: "b/#", qos: 0 },
  ]);
  send(connection, { cmd: "suback", messageId: id, granted: [1, 0x80] });
  check.deepEqual(results[1], [undefined, [1, 0x80]]);
  s.client.unsubscribe(["a/+"], (error) => results.push(["unsub", error]));
  const unsubscribe = connection.take()[0];
  check.ok(unsubscribe.cmd === "unsubscribe", "UNSUBSCRIBE");
  check.deepEqual((unsubscribe as { unsubscriptions: string[] }).unsubscriptions, ["a/+"]);
  send(connection, { cmd: "unsuback", messageId: (unsubscribe as { messageId: number }).messageId });
  check.deepEqual(results[2], ["unsub", undefined]);
  s.client.subscribe([{ topic: "c", qos: 0 }], (error) => results.push(errorCode(error)));
  connection.end("closed", "reset by peer");
  check.equal(results[3], "closed", "an unanswered SUBSCRIBE fails when the link ends");
  advanceToTimer(check, s, 1000);
  const again = connect(check, s);
  s.client.subscribe([], (error) => results.push(errorCode(error)));
  check.equal(results[4], "invalid-packet", "an empty SUBSCRIBE is refused through the callback");
  check.deepEqual(again.take(), []);
});

scenario("mqtt client: publish QoS 0 is written at once, refused when not connected", (check) => {
  const s = setup();
  const results: unknown[] = [];
  s.client.publish("t", Uint8Array.of(1), {}, (error) => results.push(errorCode(error)));
  const connection = connect(check, s);
  s.client.publish("t/x", Uint8Array.of(1, 2, 3), { retain: true }, (error) => results.push(error));
  check.deepEqual(results, ["not-connected", undefined]);
  check.deepEqual(connection.take(), [
    { cmd: "publish", topic: "t/x", payload: Uint8Array.of(1, 2, 3), qos: 0, dup: false, retain: true },
  ]);
  s.client.publish("bad/#", Uint8Array.of(), {}, (error) => results.push(error));
  check.equal(errorCode(results[2] as Error), "invalid-packet", "a wildcard topic is refused through the callback");
  check.deepEqual(connection.take(), [], "nothing written for it");
});

scenario("mqtt client: publish QoS 1 completes on its PUBACK, ids skip those in flight", (check) => {
  const s = setup();
  const connection = connect(check, s);
  const results: unknown[] = [];
  s.client.publish("a", Uint8Array.of(1), { qos: 1 }, (error) => results.push(["a", error]));
  s.client.publish("b", Uint8Array.of(2), { qos: 1 }, (error) => results.push(["b", error]));
  const [a, b] = connection.take().map(publishOf);
  check.equal(a.qos, 1);
  check.ok(a.messageId !== b.messageId, "distinct ids");
  send(connection, { cmd: "puback", messageId: 999 });
  check.deepEqual(results, [], "a PUBACK for an unknown id is ignored");
  send(connection, { cmd: "puback", messageId: b.messageId! });
  check.deepEqual(results, [["b", undefined]]);
  send(connection, { cmd: "puback", messageId: b.messageId! });
  check.equal(results.length, 1, "a repeated PUBACK completes nothing");
  // Walk the counter all the way round: the id of "a", still in flight, must be skipped.
  for (let i = 0; i < 65534; i++) {
    s.client.publish("c", Uint8Array.of(), { qos: 1 });
    const id = publishOf(connection.take()[0]).messageId!;
    check.ok(id !== a.messageId && id >= 1 && id <= 65535, `id ${id}`);
    send(connection, { cmd: "puback", messageId: id });
  }
  send(connection, { cmd: "puback", messageId: a.messageId! });
  check.deepEqual(results[1], ["a", undefined]);
});

scenario("mqtt client: the in-flight window is bounded, connected or not", (check) => {
  const s = setup({ maxInflight: 2 });
  const results: unknown[] = [];
  const publish = (name: string) =>
    s.client.publish(name, Uint8Array.of(), { qos: 1 }, (e) => results.push([name, errorCode(e)]));
  publish("q1");
  publish("q2");
  publish("q3");
  check.deepEqual(results, [["q3", "inflight-full"]], "queued while stopped, within the window");
  const connection = connect(check, s);
  const sent = connection.take().map(publishOf);
  check.deepEqual(
    sent.map((p) => [p.topic, p.dup]),
    [
      ["q1", false],
      ["q2", false],
    ],
    "queued ones sent on connect",
  );
  publish("q4");
  check.deepEqual(results[1], ["q4", "inflight-full"]);
  send(connection, { cmd: "puback", messageId: sent[0].messageId! });
  publish("q5");
  check.deepEqual(results.slice(2), [["q1", undefined]]);
  check.equal(publishOf(connection.take()[0]).topic, "q5");
});

scenario("mqtt client: persistent session resends unacked QoS 1 with dup and the same id", (check) => {
  const s = setup({ clean: false });
  const results: unknown[] = [];
  let connection = connect(check, s);
  s.client.publish("m/1", Uint8Array.of(1), { qos: 1 }, (e) => results.push(["m/1", e]));
  const first = publishOf(connection.take()[0]);
  connection.end("closed", "broker went away");
  check.equal(s.client.state, "waiting");
  s.client.publish("m/2", Uint8Array.of(2), { qos: 1 }, (e) => results.push(["m/2", e]));
  check.deepEqual(results, [], "QoS 1 survives the loss");
  advanceToTimer(check, s, 1000);
  connection = s.transport.last;
  connection.open();
  connection.take();
  check.equal(connection.packets().length, 1, "nothing before CONNACK but CONNECT");
  send(connection, { cmd: "connack", sessionPresent: true, returnCode: 0 });
  const resent = connection.take().map(publishOf);
  check.deepEqual(resent[0], { ...first, dup: true }, "same packet, dup=1");
  check.deepEqual([resent[1].topic, resent[1].dup], ["m/2", false], "queued one sent fresh");
  check.ok(s.calls.indexOf("connect true") > s.calls.indexOf("state connected"));
  send(connection, { cmd: "puback", messageId: first.messageId! });
  send(connection, { cmd: "puback", messageId: resent[1].messageId! });
  check.deepEqual(results, [
    ["m/1", undefined],
    ["m/2", undefined],
  ]);
});

scenario("mqtt client: reconnect() uses new credentials at once and resends unacked QoS 1 with dup", (check) => {
  const s = setup({ clean: false });
  const results: unknown[] = [];
  const first = connect(check, s);
  s.client.publish("m/1", Uint8Array.of(1), { qos: 1 }, (e) => results.push(e));
  const sent = publishOf(first.take()[0]);
  s.client.setCredentials("user", Uint8Array.of(7));
  s.client.reconnect();
  check.deepEqual(first.take(), [{ cmd: "disconnect" }], "the old link ends cleanly");
  check.ok(first.closedByClient, "the old link is closed");
  check.deepEqual(results, [], "the message in flight is kept");
  check.equal(s.transport.connections.length, 2, "a new link at once, no backoff");
  const second = s.transport.last;
  second.open();
  const connectPacket = second.take()[0];
  check.deepEqual(connectPacket.cmd === "connect" && connectPacket.password, Uint8Array.of(7), "new password");
  send(second, { cmd: "connack", sessionPresent: true, returnCode: 0 });
  check.deepEqual(second.take(), [{ ...sent, dup: true }], "resent with dup and the same id");
  send(second, { cmd: "puback", messageId: sent.messageId! });
  check.deepEqual(results, [undefined]);
  check.equal(s.lost.length, 0, "not reported as a lost connection");
});

scenario("mqtt client: incoming QoS 0 and 1, PUBACK after onMessage, duplicates acked again", (check) => {
  let connection: ScriptedConnection | undefined;
  let writtenDuringMessage = -1;
  const s = setup({ onMessage: () => (writtenDuringMessage = connection!.packets().length) });
  connection = connect(check, s);
  connection.take();
  const before = connection.packets().length;
  const qos1: PublishPacket = {
    cmd: "publish",
    topic: "in/1",
    payload: Uint8Array.of(7),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 42,
  };
  send(connection, qos1);
  check.equal(writtenDuringMessage, before, "PUBACK not written before onMessage returns");
  check.deepEqual(connection.take(), [{ cmd: "puback", messageId: 42 }]);
  send(connection, { ...qos1, dup: true });
  check.deepEqual(connection.take(), [{ cmd: "puback", messageId: 42 }], "a duplicate is acked again");
  send(connection, { cmd: "publish", topic: "in/0", payload: Uint8Array.of(), qos: 0, dup: false, retain: false });
  check.deepEqual(connection.take(), [], "no ack for QoS 0");
});

scenario("mqtt client: onMessage receives topic, payload and packet", (check) => {
  const s = setup();
  const connection = connect(check, s);
  const packet: PublishPacket = {
    cmd: "publish",
    topic: "ünï/1",
    payload: Uint8Array.of(0, 255),
    qos: 1,
    dup: true,
    retain: true,
    messageId: 65535,
  };
  // Two packets in one delivery, the second split over two.
  const both = new Uint8Array([
    ...serverBytes(packet),
    ...serverBytes({ ...packet, qos: 0, dup: false, messageId: undefined }),
  ]);
  connection.deliver(both.subarray(0, both.length - 2));
  connection.deliver(both.subarray(both.length - 2));
  check.deepEqual(s.messages, [packet, { ...packet, qos: 0, dup: false, messageId: undefined }]);
  check.deepEqual(s.calls.slice(-2), ["message ünï/1", "message ünï/1"]);
});

scenario("mqtt client: malformed or unexpected server bytes close the link and reconnect", (check) => {
  const cases: [string, Uint8Array, string][] = [
    ["reserved packet type", Uint8Array.of(0x00, 0x00), "MqttProtocolError"],
    [
      "QoS 2 publish",
      serverBytes({
        cmd: "publish",
        topic: "t",
        payload: Uint8Array.of(),
        qos: 2,
        dup: false,
        retain: false,
        messageId: 1,
      }),
      "unexpected-packet",
    ],
    ["second CONNACK", serverBytes({ cmd: "connack", sessionPresent: false, returnCode: 0 }), "unexpected-packet"],
    ["oversized", Uint8Array.of(0x30, 0xff, 0xff, 0x03), "packet-too-large"],
  ];
  for (const [name, bytes, expected] of cases) {
    const s = setup();
    const connection = connect(check, s);
    connection.deliver(bytes);
    check.equal(s.client.state, "waiting", name);
    const error = s.lost[0];
    check.ok(error instanceof MqttProtocolError, `${name}: MqttProtocolError`);
    if (expected !== "MqttProtocolError") check.equal(errorCode(error), expected, name);
    check.ok(connection.closedByClient, `${name}: closed`);
    advanceToTimer(check, s, 1000);
    connect(check, s);
  }
  const s = setup();
  s.client.start();
  s.transport.last.open();
  send(s.transport.last, { cmd: "pingresp" });
  check.equal(errorCode(s.lost[0]), "unexpected-packet", "anything before CONNACK");
});

scenario("mqtt client: stop() while connected sends DISCONNECT and fails pending callbacks", (check) => {
  const s = setup();
  const connection = connect(check, s);
  const results: unknown[] = [];
  s.client.publish("t", Uint8Array.of(), { qos: 1 }, (e) => results.push(errorCode(e)));
  s.client.subscribe([{ topic: "s", qos: 0 }], (e) => results.push(errorCode(e)));
  connection.take();
  s.client.stop();
  check.deepEqual(connection.take(), [{ cmd: "disconnect" }]);
  check.ok(connection.closedByClient);
  check.equal(s.client.state, "stopped");
  check.deepEqual(results.sort(), ["stopped", "stopped"]);
  check.deepEqual(s.stops, [undefined]);
  check.equal(s.clock.pendingTimers, 0);
  connection.end();
  check.equal(s.lost.length, 0, "the close that follows is not a loss");
  s.client.stop();
  check.equal(s.stops.length, 1, "a second stop() does nothing");
  connect(check, s);
  check.equal(s.transport.connections.length, 2, "start() again after stop()");
});

scenario("mqtt client: stop() while connecting or waiting cancels everything", (check) => {
  const s = setup();
  s.client.start();
  s.transport.last.open();
  s.client.stop();
  check.deepEqual(
    s.transport.last.take().map((p) => p.cmd),
    ["connect"],
    "no DISCONNECT before CONNACK",
  );
  check.ok(s.transport.last.closedByClient);
  check.equal(s.clock.pendingTimers, 0);
  send(s.transport.last, { cmd: "connack", sessionPresent: false, returnCode: 0 });
  check.equal(s.client.state, "stopped", "a late CONNACK on the old link is ignored");

  const w = setup();
  w.client.start();
  w.transport.last.end();
  check.equal(w.client.state, "waiting");
  w.client.stop();
  check.equal(w.clock.pendingTimers, 0);
  w.clock.advance(600 * 1000);
  check.equal(w.transport.connections.length, 1, "no reconnect after stop()");
  check.deepEqual(w.states, ["connecting", "waiting", "stopped"]);
});

scenario("mqtt client: an application callback that throws is logged and contained", (check) => {
  const s = setup({
    onStateChange: () => {
      throw new Error("state boom");
    },
    onMessage: () => {
      throw new Error("message boom");
    },
  });
  const connection = connect(check, s);
  s.client.publish("t", Uint8Array.of(), {}, () => {
    throw new Error("callback boom");
  });
  connection.take();
  send(connection, {
    cmd: "publish",
    topic: "in",
    payload: Uint8Array.of(),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 3,
  });
  check.deepEqual(connection.take(), [{ cmd: "puback", messageId: 3 }], "PUBACK still sent");
  check.equal(s.client.state, "connected");
  const threw = s.log.events("callback-threw").map((e) => e.fields.callback);
  check.deepEqual(threw, ["onStateChange", "onStateChange", "callback", "onMessage"]);
});

scenario("mqtt client: the application may stop the client from inside a callback", (check) => {
  let client: MqttClient | undefined;
  const s = setup({ onMessage: () => client!.stop() });
  client = s.client;
  const connection = connect(check, s);
  const publish: PublishPacket = {
    cmd: "publish",
    topic: "in",
    payload: Uint8Array.of(),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 5,
  };
  connection.deliver(new Uint8Array([...serverBytes(publish), ...serverBytes({ ...publish, messageId: 6 })]));
  check.equal(s.client.state, "stopped");
  check.deepEqual(connection.take(), [{ cmd: "disconnect" }], "no PUBACK after stop, second packet ignored");
  check.equal(s.clock.pendingTimers, 0);
});

scenario("mqtt client: deadlines hold across the 32-bit tick wrap", (check) => {
  const s = setup({ connectTimeoutMs: 3000 }, 0x7fffffff - 1000);
  s.client.start();
  s.clock.advance(2999);
  check.equal(s.client.state, "connecting", "connect deadline is past the wrap");
  check.ok(s.clock.now() < 0, "the tick counter wrapped");
  s.clock.advance(1);
  check.equal(errorCode(s.lost[0]), "connect-timeout");
  const t = setup({}, 0x7fffffff - 4000);
  const connection = connect(check, t);
  t.clock.advance(9999);
  check.deepEqual(connection.take(), []);
  t.clock.advance(1);
  check.deepEqual(connection.take(), [{ cmd: "pingreq" }], "ping at 10 s although now() went negative");
  t.clock.advance(14999);
  check.equal(t.client.state, "connected");
  t.clock.advance(1);
  check.equal(errorCode(t.lost[0]), "keepalive-timeout");
});

scenario("backoff: full jitter under a ceiling that doubles up to the maximum, reset after success", (check) => {
  const highest: Random = { fill: (bytes) => bytes.fill(0xff) };
  const backoff = new Backoff(highest, { initialDelayMs: 1000, maxDelayMs: 5000 });
  check.deepEqual(
    [1, 2, 3, 4, 5].map(() => backoff.next()),
    [1000, 2000, 4000, 5000, 5000],
    "the top of each window",
  );
  backoff.reset();
  check.equal(backoff.next(), 1000);
  check.equal(new Backoff({ fill: (bytes) => bytes.fill(0) }).next(), 0, "the bottom of the window is 0");
  const defaults = new Backoff(highest);
  for (let i = 0; i < 20; i++) defaults.next();
  check.equal(defaults.next(), 300000, "defaults: 1 s doubling up to 5 min");
});
