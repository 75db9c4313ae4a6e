/**
 * Runs inside xsnap for bench/refresh.ts, bundled into the global `refreshBench`: a registered
 * DeviceClient on the fake broker and virtual clock of testkit/device, brought to its refresh
 * moment, so that `refresh()` is one measured crank handling the platform's refresh reply.
 */
import { x25519 } from "../sdk/crypto/nacl/x25519";
import { DeviceClient } from "../sdk/device-client";
import { saveIdentity } from "../sdk/identity";
import { utf8Decode, utf8Encode } from "../sdk/utf8";
import { DeviceRig } from "../testkit/device/device-rig";
import { sealRegistration } from "../testkit/device/sealed-registration";
import { collectGarbage, jsonBuffer } from "../simulator/xs-engine/inside";

const root = "ws/ws_main/dev/pump-0042";
let rig: DeviceRig | undefined;
let reply: Uint8Array | undefined;
let scalarInputs: [Uint8Array, Uint8Array] | undefined;

function lastTokenRid(r: DeviceRig): string {
  const requests = r.broker.received.filter((p) => p.topic === `${root}/req/token`);
  return (JSON.parse(utf8Decode(requests[requests.length - 1].payload)!) as { rid: string }).rid;
}

/** Collects garbage and does nothing else: the baseline crank. */
export function idle(): void {
  collectGarbage();
}

/** A connected device at its refresh moment, and the sealed reply ready to deliver. */
export function setup(): ArrayBuffer {
  const r = (rig = new DeviceRig());
  saveIdentity(r.store, {
    version: 1,
    keyPair: r.keyPair,
    registration: { workspaceId: "ws_main", deviceId: "pump-0042", token: "rt_first", lifetime: 2592000 },
  });
  const device = new DeviceClient({
    provisioningToken: "pt_bench",
    transport: r.broker,
    clock: r.clock,
    random: r.random,
    store: r.store,
    onDisplay() {},
  });
  device.start();
  r.advance();
  r.broker.current!.deliver(
    `${root}/res/token`,
    utf8Encode(JSON.stringify({ rid: lastTokenRid(r), status: 200, expiresIn: 2592000 })),
  );
  r.advance();
  r.advance(1296000 * 1000);
  const registration = sealRegistration("rt_second-token-of-typical-length-0123456789", r.keyPair.publicKey);
  reply = utf8Encode(
    JSON.stringify({ rid: lastTokenRid(r), status: 200, registration, expiresIn: 2592000, graceIn: 300 }),
  );
  scalarInputs = [new Uint8Array(32), new Uint8Array(32)];
  for (const input of scalarInputs) r.random.fill(input);
  return jsonBuffer({ state: device.state });
}

/** One refresh: the reply opened with the device key, stored, then the switch to the new token. */
export function refresh(): ArrayBuffer {
  const r = rig!;
  const writes = r.store.writes;
  r.broker.current!.deliver(`${root}/res/token`, reply!);
  r.advance();
  const connect = r.broker.connects[r.broker.connects.length - 1];
  return jsonBuffer({
    stored: r.store.writes - writes,
    connects: r.broker.connects.length,
    password: connect.password,
  });
}

/** One X25519 scalar multiplication (the device's own, sdk/crypto/nacl), the unit the refresh's cost is compared with. */
export function scalarMult(): void {
  x25519(scalarInputs![0], scalarInputs![1]);
}
