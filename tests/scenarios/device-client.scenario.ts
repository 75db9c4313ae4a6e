/** The public DeviceClient: stored registration reused, provisioning when there is none, messages. */
import { DeviceClient, type DeviceClientOptions, type DeviceClientState } from "../../sdk/device-client";
import { loadIdentity, saveIdentity } from "../../sdk/identity";
import { provisioningClientId } from "../../sdk/crypto/verification";
import type { OperationDisplay } from "../../sdk/provisioning/provisioner";
import { utf8Decode, utf8Encode } from "../../sdk/utf8";
import { DeviceRig } from "../../testkit/device/device-rig";
import { scenario } from "./harness";

const provisioningToken = "pt_device-client-token";
const registration = { workspaceId: "ws_main", deviceId: "pump-0042", token: "rt_stored-token", lifetime: 2592000 };
const root = "ws/ws_main/dev/pump-0042";

function client(rig: DeviceRig, extra: Partial<DeviceClientOptions> = {}) {
  const states: [DeviceClientState, string | undefined][] = [];
  const displays: OperationDisplay[] = [];
  const device = new DeviceClient({
    provisioningToken,
    transport: rig.broker,
    clock: rig.clock,
    random: rig.random,
    log: rig.log,
    store: rig.store,
    onDisplay: (op) => displays.push(op),
    onStateChange: (state, detail) => states.push([state, detail]),
    ...extra,
  });
  return { device, states, displays };
}

/** Lets promise reactions run after virtual time moved. */
const settle = () => new Promise<void>((resolve) => resolve());

scenario("device client: reuses a stored registration without provisioning", async (check) => {
  const rig = new DeviceRig();
  saveIdentity(rig.store, { version: 1, keyPair: rig.keyPair, registration });
  const { device, states } = client(rig);
  device.start();
  rig.advance();
  check.deepEqual(rig.broker.connects, [
    {
      clientId: "ws_main:pump-0042",
      username: "ws_main:pump-0042",
      password: "rt_stored-token",
      clean: false,
      keepalive: 60,
    },
  ]);
  check.deepEqual(rig.broker.current!.subscriptions, [`${root}/res/+`, `${root}/cmd/#`]);
  check.equal(rig.requests("init").length, 0, "no provisioning");
  const status = rig.broker.received.find((p) => p.topic === `${root}/req/token`)!;
  const request = JSON.parse(utf8Decode(status.payload)!);
  check.deepEqual(request, { v: 2, rid: request.rid, op: "status" });
  check.equal(device.deviceId, "pump-0042");
  check.equal(device.workspaceId, "ws_main");
  check.equal(device.state, "connected");
  check.deepEqual(states, [
    ["connecting", undefined],
    ["connected", undefined],
  ]);

  rig.broker.holdPubacks = true;
  let acknowledged = false;
  const sent = device.send("telemetry", Uint8Array.of(1, 2, 3)).then(() => (acknowledged = true));
  rig.advance();
  const message = rig.broker.received[rig.broker.received.length - 1];
  check.equal(message.topic, `${root}/msg/telemetry/${message.messageId}`);
  check.deepEqual(message.payload, Uint8Array.of(1, 2, 3));
  check.equal(message.qos, 1);
  await settle();
  check.equal(acknowledged, false, "resolved before the PUBACK");
  rig.broker.current!.puback(message.messageId!);
  rig.advance();
  await settle();
  check.equal(acknowledged, true, "resolved on the PUBACK");
  await sent;
  check.ok(!rig.log.text().includes("rt_stored-token"), "registration token logged");
});

scenario(
  "device client: send rejects a bad stream name; a message sent before registration waits for it",
  async (check) => {
    const rig = new DeviceRig();
    const { device } = client(rig);
    const outcome = (sent: Promise<void>) =>
      sent.then(
        () => "sent",
        (e: { code?: string }) => e.code,
      );
    const bad = await outcome(device.send("a/b", Uint8Array.of(1)));
    check.equal(bad, "invalid-stream");
    let acknowledged = false;
    const early = device.send("telemetry", Uint8Array.of(1)).then(() => (acknowledged = true));
    check.deepEqual(device.queued, { messages: 1, bytes: 10, dropped: 0 });
    saveIdentity(rig.store, { version: 1, keyPair: rig.keyPair, registration });
    rig.broker.holdPubacks = true;
    device.start();
    rig.advance();
    const message = rig.broker.received.find((m) => m.topic.startsWith(`${root}/msg/telemetry/`));
    check.ok(message !== undefined, "the early message was not published once registered");
    check.ok(message!.messageId! >= 0x8000, `a queued message keeps an id of its own range, not ${message!.messageId}`);
    await settle();
    check.equal(acknowledged, false, "resolved before the PUBACK");
    rig.broker.current!.puback(message!.messageId!);
    rig.advance();
    await early;
    check.deepEqual(device.queued, { messages: 0, bytes: 0, dropped: 0 });
  },
);

scenario(
  "device client: provisions when no registration is stored, then connects the registered session",
  async (check) => {
    const rig = new DeviceRig();
    saveIdentity(rig.store, { version: 1, keyPair: rig.keyPair });
    const { device, states, displays } = client(rig, { deviceId: "pump-0042" });
    device.start();
    rig.advance();
    check.equal(rig.last("init").deviceId, "pump-0042");
    rig.reply("init", rig.initReply("op_1"));
    check.equal(device.state, "awaiting-approval");
    check.equal(displays[0].verificationCode, rig.codeFor("op_1"));
    rig.reply("complete", rig.approval("op_1", "rt_new", null, "pump-0042"));
    rig.advance();
    check.equal(device.state, "connected");
    check.equal(device.deviceId, "pump-0042");
    check.equal(rig.broker.connects[1].clientId, "ws_main:pump-0042");
    check.equal(rig.broker.connects[1].password, "rt_new");
    check.deepEqual(
      states.map(([s]) => s),
      ["provisioning", "awaiting-approval", "connecting", "connected"],
    );
    let delivered = false;
    void device.send("s", utf8Encode("hello")).then(() => (delivered = true));
    rig.advance();
    await settle();
    check.ok(delivered, "message acknowledged");
  },
);

scenario(
  "device client: with the stop policy a refused registration token fails with registration-rejected",
  (check) => {
    const rig = new DeviceRig();
    saveIdentity(rig.store, { version: 1, keyPair: rig.keyPair, registration });
    rig.broker.connackCode = 5;
    const { device, states } = client(rig, { onRejected: "stop" });
    device.start();
    rig.advance();
    rig.advance();
    check.equal(device.state, "failed");
    check.deepEqual(states[states.length - 1], ["failed", "registration-rejected"]);
    rig.advance(3600000);
    check.equal(rig.broker.connects.length, 1, "no retry loop");
  },
);

scenario("device client: an invalid Device ID is refused before use", (check) => {
  const rig = new DeviceRig();
  let code: string | undefined;
  try {
    client(rig, { deviceId: "a/b" });
  } catch (e) {
    code = (e as { code?: string }).code;
  }
  check.equal(code, "invalid-device-id");
  check.equal(rig.broker.connects.length, 0);
});

scenario("device client: a corrupt record reads as none and a fresh key is stored before connecting", (check) => {
  const rig = new DeviceRig();
  rig.store.write(utf8Encode('{"v":1,"pk":"short","sk":"x"}'));
  const { device } = client(rig);
  device.start();
  rig.advance();
  check.equal(device.state, "provisioning");
  const stored = loadIdentity(rig.store);
  check.ok(stored !== undefined, "a fresh identity was stored");
  check.equal(
    rig.broker.connects[0].clientId,
    provisioningClientId(stored!.keyPair.publicKey),
    "the key was stored before the first CONNECT",
  );
  check.equal(rig.broker.connects[0].username, "provisioning");
});

scenario("device client: an application callback that throws is logged and goes no further", (check) => {
  const rig = new DeviceRig();
  saveIdentity(rig.store, { version: 1, keyPair: rig.keyPair });
  const { device } = client(rig, {
    onDisplay: () => {
      throw new Error("display broke");
    },
    onStateChange: () => {
      throw new Error("app broke");
    },
  });
  device.start();
  rig.advance();
  rig.reply("init", rig.initReply("op_1"));
  check.equal(device.state, "awaiting-approval", "the device went on");
  check.ok(rig.log.text().includes("display broke"), "onDisplay's throw logged");
  check.ok(rig.log.text().includes("app broke"), "onStateChange's throw logged");
  rig.reply("complete", rig.approval("op_1", "rt_new", null));
  rig.advance();
  check.equal(device.state, "connected");
});

scenario(
  "device client: a Random port that fails makes no key; start fails once with random-failed, send queues nothing",
  async (check) => {
    const rig = new DeviceRig();
    let broken = true;
    const random = {
      fill(bytes: Uint8Array) {
        if (broken) throw new Error("getrandom failed");
        rig.random.fill(bytes);
      },
    };
    const { device, states } = client(rig, { random });
    device.start();
    rig.advance();
    check.equal(device.state, "failed");
    check.deepEqual(states, [["failed", "random-failed"]]);
    check.equal(loadIdentity(rig.store), undefined, "no key stored");
    check.equal(rig.broker.connects.length, 0, "no connection");
    check.ok(rig.log.text().includes("getrandom failed"), "the cause logged");
    let refusal: { code?: string } | undefined;
    await device.send("telemetry", utf8Encode("1")).catch((error: { code?: string }) => (refusal = error));
    check.equal(refusal?.code, "not-started");
    check.equal(device.queued.messages, 0, "nothing queued");

    device.start();
    check.deepEqual(states, [["failed", "random-failed"]], "said once");
    broken = false;
    device.start();
    rig.advance();
    check.equal(device.state, "provisioning");
    check.ok(loadIdentity(rig.store) !== undefined, "a key once the source works");
    device.send("telemetry", utf8Encode("2")).catch(() => undefined);
    check.equal(device.queued.messages, 1, "queued once started");
  },
);
