/**
 * The registration token lifecycle on the device (docs/protocol.md 2b, 2c): status after every connect,
 * refresh at the scheduled moment, the new token stored before the switch, retries while the old
 * token works, and provisioning again when the platform refuses the registration. The virtual
 * clock starts just before the 32-bit tick wrap, so every schedule here crosses it.
 */
import { DeviceClient, type DeviceClientOptions, type DeviceClientState } from "../../sdk/device-client";
import { generateDeviceKeyPair } from "../../sdk/crypto/device-key";
import { loadIdentity, saveIdentity, type Registration } from "../../sdk/identity";
import { maxTimerStepMs } from "../../sdk/registration/long-timer";
import { refreshDelayMs } from "../../sdk/registration/refresh-policy";
import { RegisteredSession } from "../../sdk/registration/session";
import vectors from "../../docs/protocol-vectors.json";
import { utf8Decode, utf8Encode } from "../../sdk/utf8";
import { sealRegistration } from "../../testkit/device/sealed-registration";
import { DeviceRig, type Json } from "../../testkit/device/device-rig";
import { scenario } from "./harness";

const day = 86400;
const root = "ws/ws_main/dev/pump-0042";
const stored: Registration = { workspaceId: "ws_main", deviceId: "pump-0042", token: "rt_first", lifetime: 30 * day };

function registeredDevice(
  rig: DeviceRig,
  registration: Registration = stored,
  extra: Partial<DeviceClientOptions> = {},
) {
  saveIdentity(rig.store, { version: 1, keyPair: rig.keyPair, registration });
  const states: [DeviceClientState, string | undefined][] = [];
  const device = new DeviceClient({
    provisioningToken: "pt_lifecycle",
    transport: rig.broker,
    clock: rig.clock,
    random: rig.random,
    log: rig.log,
    store: rig.store,
    onDisplay: () => {},
    onStateChange: (state, detail) => states.push([state, detail]),
    ...extra,
  });
  device.start();
  rig.advance();
  return { device, states };
}

/** The token requests the device published, oldest first. */
function tokenRequests(rig: DeviceRig): Json[] {
  return rig.broker.received
    .filter((p) => p.topic === `${root}/req/token`)
    .map((p) => JSON.parse(utf8Decode(p.payload)!) as Json);
}

function lastTokenRequest(rig: DeviceRig, op: "status" | "refresh"): Json | undefined {
  return tokenRequests(rig)
    .filter((r) => r.op === op)
    .pop();
}

/** Answers the newest `op` request on the device's current connection. */
function answer(rig: DeviceRig, op: "status" | "refresh", body: Json): void {
  const request = lastTokenRequest(rig, op);
  if (!request) throw new Error(`no ${op} request`);
  rig.broker.current!.deliver(`${root}/res/token`, utf8Encode(JSON.stringify({ rid: request.rid, ...body })));
  rig.advance();
}

function refreshReply(rig: DeviceRig, token: string, extra: Json = {}): Json {
  return {
    status: 200,
    registration: sealRegistration(token, rig.keyPair.publicKey),
    expiresIn: 30 * day,
    graceIn: 300,
    ...extra,
  };
}

const count = (rig: DeviceRig, op: "status" | "refresh") => tokenRequests(rig).filter((r) => r.op === op).length;

scenario(
  "registration: refresh moment is min(expiry - 10 min, issue + lifetime / 2), and a margin longer than the lifetime is ignored",
  (check) => {
    check.equal(refreshDelayMs(30 * day, 30 * day), 15 * day * 1000, "half a fresh 30-day token");
    check.equal(refreshDelayMs(20 * day, 30 * day), 5 * day * 1000, "10 days after issue");
    check.equal(refreshDelayMs(1000, 1000), 400 * 1000, "a 1000 s token: 10 min before expiry comes first");
    check.equal(refreshDelayMs(300, 1000), 0, "already past the moment: at once");
    check.equal(refreshDelayMs(60, 60), 30 * 1000, "a 60 s token: the 10 min margin is ignored");
    check.equal(refreshDelayMs(3600, 3600, { beforeExpiryS: 60, lifetimeFraction: 0.9 }), 3240 * 1000, "configured");
  },
);

scenario("registration: status after connect schedules the refresh at the exact moment", (check) => {
  const rig = new DeviceRig();
  registeredDevice(rig, { ...stored, lifetime: 1000 });
  check.equal(count(rig, "status"), 1, "status asked after connect");
  answer(rig, "status", { status: 200, expiresIn: 1000 });
  rig.advance(400 * 1000 - 1);
  check.equal(count(rig, "refresh"), 0, "not a millisecond early");
  rig.advance(1);
  check.equal(count(rig, "refresh"), 1, "refreshed at expiry - 10 min");
  check.deepEqual(lastTokenRequest(rig, "refresh"), {
    v: 2,
    rid: lastTokenRequest(rig, "refresh")!.rid,
    op: "refresh",
  });
});

scenario(
  "registration: the refreshed token is stored before the switch, then the device reconnects with it",
  (check) => {
    const rig = new DeviceRig();
    const { device, states } = registeredDevice(rig);
    answer(rig, "status", { status: 200, expiresIn: 30 * day });
    rig.advance(15 * day * 1000);
    let connectsAtWrite = -1;
    rig.store.onWrite = () => (connectsAtWrite = rig.broker.connects.length);
    answer(rig, "refresh", refreshReply(rig, "rt_second", { expiresIn: 29 * day }));
    check.equal(connectsAtWrite, 1, "stored while still on the first connection");
    const identity = loadIdentity(rig.store)!;
    check.equal(identity.registration!.token, "rt_second");
    check.equal(identity.registration!.lifetime, 29 * day);
    check.deepEqual(identity.keyPair, rig.keyPair, "same key pair");
    check.equal(rig.broker.connects.length, 2, "reconnected");
    check.equal(rig.broker.connects[1].password, "rt_second");
    check.equal(device.state, "connected");
    check.equal(count(rig, "status"), 2, "status asked again on the new connection");
    check.equal(states[states.length - 1][0], "connected");
    check.ok(!rig.log.text().includes("rt_second") && !rig.log.text().includes("rt_first"), "no token logged");
  },
);

scenario("registration: the switch to a new token resends messages in flight on the new link", async (check) => {
  const rig = new DeviceRig();
  const { device } = registeredDevice(rig);
  answer(rig, "status", { status: 200, expiresIn: 30 * day });
  rig.broker.holdPubacks = true;
  let outcome = "pending";
  const sent = device.send("telemetry", Uint8Array.of(7)).then(
    () => (outcome = "stored"),
    () => (outcome = "failed"),
  );
  rig.advance();
  rig.advance(15 * day * 1000);
  const refresh = lastTokenRequest(rig, "refresh")!;
  const refreshPublish = rig.broker.received.find(
    (p) => p.topic === `${root}/req/token` && JSON.parse(utf8Decode(p.payload)!).rid === refresh.rid,
  )!;
  rig.broker.current!.puback(refreshPublish.messageId!);
  answer(rig, "refresh", refreshReply(rig, "rt_second"));
  rig.advance();
  check.equal(rig.broker.connects.length, 2, "switched at once");
  check.equal(rig.broker.connects[1].password, "rt_second");
  const copies = rig.broker.received.filter((p) => p.topic === `${root}/msg/telemetry/${p.messageId}`);
  check.equal(copies.length, 2, "the unacknowledged message went out again on the new link");
  check.deepEqual([copies[1].messageId, copies[1].dup], [copies[0].messageId, true], "same id, dup set");
  check.equal(outcome, "pending", "not failed by the switch");
  rig.broker.current!.puback(copies[1].messageId!);
  rig.advance();
  await sent;
  check.equal(outcome, "stored");
});

scenario("registration: a failed or unanswered refresh is retried with backoff while connected", (check) => {
  const rig = new DeviceRig();
  registeredDevice(rig, stored, { refresh: { replyTimeoutMs: 10000 } });
  answer(rig, "status", { status: 200, expiresIn: 30 * day });
  rig.advance(15 * day * 1000);
  answer(rig, "refresh", { status: 500, error: "internal-error" });
  check.equal(count(rig, "refresh"), 1);
  rig.advance(1000);
  check.equal(count(rig, "refresh"), 2, "retried within the first 1 s window");
  rig.advance(10000 - 1);
  check.equal(count(rig, "refresh"), 2, "waits the reply timeout");
  rig.advance(1 + 2000);
  check.equal(count(rig, "refresh"), 3, "retried within the second window after the timeout");
  answer(rig, "refresh", { status: 429, error: "rate-limited", retryAfter: 30 });
  rig.advance(30000 - 1);
  check.equal(count(rig, "refresh"), 3, "honours retryAfter");
  rig.advance(1);
  check.equal(count(rig, "refresh"), 4);
  check.equal(rig.broker.connects.length, 1, "the old token's session stayed up");
  check.equal(loadIdentity(rig.store)!.registration!.token, "rt_first");
});

scenario("registration: a refresh reply that does not open with the device key is not stored", (check) => {
  const rig = new DeviceRig();
  registeredDevice(rig);
  answer(rig, "status", { status: 200, expiresIn: 30 * day });
  rig.advance(15 * day * 1000);
  const writes = rig.store.writes;
  const attacker = generateDeviceKeyPair(rig.random);
  answer(rig, "refresh", {
    ...refreshReply(rig, "rt_stolen"),
    registration: sealRegistration("rt_stolen", attacker.publicKey),
  });
  answer(rig, "refresh", {
    status: 200,
    registration: { sealed: "!!", nonce: "x", serverPublicKey: "y" },
    expiresIn: 30 * day,
  });
  check.equal(rig.store.writes, writes, "nothing stored");
  check.equal(loadIdentity(rig.store)!.registration!.token, "rt_first");
  check.equal(rig.broker.connects.length, 1, "no switch");
  rig.advance(5000);
  check.equal(count(rig, "refresh"), 2, "asked again");
  answer(rig, "refresh", refreshReply(rig, "rt_good"));
  check.equal(loadIdentity(rig.store)!.registration!.token, "rt_good");
});

scenario("registration: status after each reconnect reschedules the refresh", (check) => {
  const rig = new DeviceRig();
  registeredDevice(rig);
  answer(rig, "status", { status: 200, expiresIn: 30 * day });
  rig.advance(1000);
  rig.broker.current!.drop();
  rig.advance(1000);
  check.equal(rig.broker.connects.length, 2, "reconnected with backoff");
  check.equal(count(rig, "status"), 2);
  // The platform's word is newer: 20 days left of a 30-day token means the refresh is due in 5.
  answer(rig, "status", { status: 200, expiresIn: 20 * day });
  rig.advance(5 * day * 1000 - 1);
  check.equal(count(rig, "refresh"), 0);
  rig.advance(1);
  check.equal(count(rig, "refresh"), 1, "at the rescheduled moment");
  answer(rig, "refresh", refreshReply(rig, "rt_second"));
  answer(rig, "status", { status: 200, expiresIn: 30 * day });
  rig.advance(11 * day * 1000);
  check.equal(count(rig, "refresh"), 1, "the first schedule (day 15) was cancelled");
});

scenario("registration: a lifetime over 24.8 days is slept in steps across the tick wrap", (check) => {
  const rig = new DeviceRig();
  registeredDevice(rig, { ...stored, lifetime: 60 * day });
  const start = rig.clock.now();
  answer(rig, "status", { status: 200, expiresIn: 60 * day });
  const delay = 30 * day * 1000;
  check.ok(delay > 0x7fffffff, "longer than the tick range");
  rig.advance(delay - 1);
  check.equal(count(rig, "refresh"), 0, "not early");
  rig.advance(1);
  check.equal(count(rig, "refresh"), 1, "exactly 30 days later");
  check.ok(rig.clock.longestDelay <= maxTimerStepMs, `no timer of 2^31 ms or more (longest ${rig.clock.longestDelay})`);
  check.ok(rig.clock.now() < start, "the tick counter wrapped");
});

scenario("registration: a refused registration provisions again in the background with the same key", (check) => {
  const rig = new DeviceRig();
  rig.broker.connackCode = 5;
  const { device, states } = registeredDevice(rig, { ...stored, deviceId: "pump-0042" });
  check.deepEqual(states[states.length - 1], ["provisioning", "registration-rejected"], "the application is told");
  rig.broker.connackCode = 0;
  check.equal(rig.broker.connects.length, 1, "waits a backoff delay first");
  rig.advance(1000);
  check.equal(rig.broker.connects.length, 2);
  check.deepEqual(rig.broker.connects[1], {
    clientId: rig.clientId,
    username: "provisioning",
    password: "pt_lifecycle",
    clean: true,
    keepalive: 60,
  });
  check.equal(rig.last("init").deviceId, "pump-0042", "asks for the Device ID it had");
  check.equal(loadIdentity(rig.store)!.registration, undefined, "the refused token is gone from the store");
  rig.reply("init", rig.initReply("op_again"));
  check.equal(device.state, "awaiting-approval");
  rig.reply("complete", rig.approval("op_again", "rt_after-approval", null, "pump-0042"));
  rig.advance();
  check.equal(device.state, "connected");
  check.equal(device.deviceId, "pump-0042");
  check.equal(rig.broker.connects[2].password, "rt_after-approval");
  check.deepEqual(loadIdentity(rig.store)!.keyPair, rig.keyPair, "same key pair");
});

scenario("registration: expired while powered off, the device provisions again on boot", (check) => {
  const rig = new DeviceRig();
  rig.broker.connackCode = 5;
  const { states } = registeredDevice(rig);
  rig.broker.connackCode = 0;
  rig.advance(1000);
  check.deepEqual(
    states.map(([s]) => s),
    ["connecting", "provisioning"],
  );
  check.equal(rig.broker.connects[1].username, "provisioning");
});

scenario("registration: with the stop policy a refused registration stops and says so", (check) => {
  const rig = new DeviceRig();
  rig.broker.connackCode = 4;
  const { device, states } = registeredDevice(rig, stored, { onRejected: "stop" });
  check.equal(device.state, "failed");
  check.deepEqual(states[states.length - 1], ["failed", "registration-rejected"]);
  rig.advance(day * 1000);
  check.equal(rig.broker.connects.length, 1, "nothing more");
});

scenario("registration: a provisioning token that is itself refused stops the loop with a clear error", (check) => {
  const rig = new DeviceRig();
  rig.broker.connackCode = 5;
  const { device, states } = registeredDevice(rig);
  rig.advance(1000);
  check.equal(rig.broker.connects.length, 2, "tried to provision again");
  check.equal(device.state, "failed");
  check.deepEqual(states[states.length - 1], ["failed", "provisioning-token-refused"]);
  rig.advance(7 * day * 1000);
  check.equal(rig.broker.connects.length, 2, "no loop");
});

scenario("registration: a Device ID and a stream with '.' are written in their topic form ('.' as '~')", (check) => {
  const rig = new DeviceRig();
  const { device } = registeredDevice(rig, { ...stored, deviceId: "pump.0042.a" });
  const dotted = "ws/ws_main/dev/pump~0042~a";
  check.deepEqual(rig.broker.current!.subscriptions, [`${dotted}/res/+`, `${dotted}/cmd/#`]);
  check.ok(
    rig.broker.received.some((p) => p.topic === `${dotted}/req/token`),
    "the status request under the topic form",
  );
  device.send("tele.metry.v2", Uint8Array.of(7)).catch(() => undefined);
  rig.advance();
  const message = rig.broker.received[rig.broker.received.length - 1];
  check.equal(message.topic, `${dotted}/msg/tele~metry~v2/${message.messageId}`);
  check.equal(device.deviceId, "pump.0042.a", "the Device ID itself is unchanged");
});

scenario("registration: the topics of docs/protocol-vectors.json, byte for byte", (check) => {
  for (const v of vectors.topics) {
    const rig = new DeviceRig();
    const session = new RegisteredSession({
      transport: rig.broker,
      clock: rig.clock,
      random: rig.random,
      log: rig.log,
      registration: { workspaceId: v.workspaceId, deviceId: v.deviceId, token: "rt_vector", lifetime: day },
      secretKey: rig.keyPair.secretKey,
      onRefreshed: () => true,
      onRejected: () => undefined,
    });
    session.start();
    rig.advance();
    check.equal(session.root, v.root, "root");
    check.ok(
      rig.broker.received.some((p) => p.topic === v.requestToken),
      "the status request",
    );
    session.send(v.stream, Uint8Array.of(1), { messageId: v.messageId, dup: false }, () => undefined);
    rig.advance();
    check.equal(rig.broker.received[rig.broker.received.length - 1].topic, v.message, "message topic");
    session.stop();
  }
});
