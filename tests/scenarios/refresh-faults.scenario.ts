/**
 * Faults in the middle of a token refresh (docs/protocol.md 2b) on the device side: the reply lost with
 * the link, the store refusing the write, the power cut inside it. In every case the device keeps
 * the token it had (still valid: the platform's grace), never switches to one it could not store,
 * and refreshes again until a new token is both stored and in use.
 */
import { DeviceClient } from "../../sdk/device-client";
import { encodeIdentity, loadIdentity, saveIdentity, type Registration } from "../../sdk/identity";
import type { RecordStore } from "../../sdk/ports";
import { entryOverheadBytes } from "../../sdk/storage/entry";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { utf8Decode, utf8Encode } from "../../sdk/utf8";
import { DeviceRig, type Json } from "../../testkit/device/device-rig";
import type { ReceivedPublish } from "../../testkit/device/fake-broker";
import { sealRegistration } from "../../testkit/device/sealed-registration";
import { SimulatedNorFlash } from "../../testkit/device/simulated-nor-flash";
import { scenario } from "./harness";

const root = "ws/ws_main/dev/valve-0007";
const lifetimeS = 3600;
/** Half the lifetime: with a one-hour token the 10 min margin does not come first. */
const refreshDueMs = (lifetimeS / 2) * 1000;
const first: Registration = { workspaceId: "ws_main", deviceId: "valve-0007", token: "rt_first", lifetime: lifetimeS };

/** A registered device on `store` (the rig's memory store by default), connected and asked for its token status. */
function registered(rig: DeviceRig, store: RecordStore = rig.store): DeviceClient {
  saveIdentity(store, { version: 1, keyPair: rig.keyPair, registration: first });
  const device = new DeviceClient({
    provisioningToken: "pt_faults",
    transport: rig.broker,
    clock: rig.clock,
    random: rig.random,
    log: rig.log,
    store,
    onDisplay: () => {},
  });
  device.start();
  rig.advance();
  return device;
}

interface TokenRequest {
  op: string;
  rid: string;
  publish: ReceivedPublish;
}

function tokenRequests(rig: DeviceRig, op: "status" | "refresh"): TokenRequest[] {
  return rig.broker.received
    .filter((p) => p.topic === `${root}/req/token`)
    .map((publish) => ({ ...(JSON.parse(utf8Decode(publish.payload)!) as { op: string; rid: string }), publish }))
    .filter((r) => r.op === op);
}

function newest(rig: DeviceRig, op: "status" | "refresh"): TokenRequest {
  const all = tokenRequests(rig, op);
  if (all.length === 0) throw new Error(`no ${op} request`);
  return all[all.length - 1];
}

/** The platform answers `request` on the device's newest connection (a reply may outlive its link). */
function reply(rig: DeviceRig, request: TokenRequest, body: Json): void {
  rig.broker.current!.deliver(`${root}/res/token`, utf8Encode(JSON.stringify({ rid: request.rid, ...body })));
  rig.advance();
}

function refreshed(rig: DeviceRig, token: string): Json {
  return {
    status: 200,
    registration: sealRegistration(token, rig.keyPair.publicKey),
    expiresIn: lifetimeS,
    graceIn: 300,
  };
}

/** Connected with a fresh status, then on to the moment of the refresh. */
function untilRefresh(rig: DeviceRig): TokenRequest {
  reply(rig, newest(rig, "status"), { status: 200, expiresIn: lifetimeS });
  rig.advance(refreshDueMs);
  return newest(rig, "refresh");
}

const passwords = (rig: DeviceRig) => rig.broker.connects.map((c) => c.password);

scenario(
  "refresh faults: the link drops before the refresh reply is stored: the old token reconnects and the refresh runs again",
  (check) => {
    const rig = new DeviceRig();
    const device = registered(rig);
    const lost = untilRefresh(rig);
    const writes = rig.store.writes;
    // The platform issued a token, but the link died with the reply on it.
    rig.broker.current!.drop();
    rig.advance(1000);
    check.deepEqual(
      passwords(rig),
      ["rt_first", "rt_first"],
      "reconnected with the old token, within the first backoff window",
    );
    check.equal(rig.store.writes, writes, "nothing stored");
    // The persistent session redelivers the lost reply on the new link: it answers nothing asked now.
    reply(rig, lost, refreshed(rig, "rt_lost"));
    check.equal(
      loadIdentity(rig.store)!.registration!.token,
      "rt_first",
      "a reply to a request of the dead link is not stored",
    );
    check.equal(rig.broker.connects.length, 2, "and not switched to");
    // Past its refresh moment, the old token (in grace) is refreshed at once after the status.
    reply(rig, newest(rig, "status"), { status: 200, expiresIn: lifetimeS / 2 - 5 });
    const again = newest(rig, "refresh");
    check.ok(
      again.rid !== lost.rid && again.publish.connection === rig.broker.current,
      "a new refresh on the new link",
    );
    reply(rig, again, refreshed(rig, "rt_second"));
    check.equal(loadIdentity(rig.store)!.registration!.token, "rt_second");
    check.deepEqual(passwords(rig), ["rt_first", "rt_first", "rt_second"], "switched only to the stored token");
    check.equal(device.state, "connected");
  },
);

scenario(
  "refresh faults: a store that cannot write keeps the old token and session, and the refresh is retried with backoff",
  (check) => {
    const rig = new DeviceRig();
    const device = registered(rig);
    rig.store.failWrites = true;
    let request = untilRefresh(rig);
    // Full jitter: the n-th retry comes within 2^n s, each one answered with a token it cannot store.
    for (let attempt = 0; attempt < 4; attempt++) {
      reply(rig, request, refreshed(rig, `rt_unstored_${attempt}`));
      check.equal(loadIdentity(rig.store)!.registration!.token, "rt_first", "the old record stays");
      check.deepEqual(passwords(rig), ["rt_first"], "never switched: the session on the old token stays up");
      check.ok(rig.broker.current!.open, "the link was not touched");
      const asked = tokenRequests(rig, "refresh").length;
      rig.advance(1000 * 2 ** attempt);
      check.equal(tokenRequests(rig, "refresh").length, asked + 1, `retry ${attempt + 1} within ${2 ** attempt} s`);
      request = newest(rig, "refresh");
    }
    check.equal(rig.log.events("token-refresh-not-stored").length, 4);
    rig.store.failWrites = false;
    reply(rig, request, refreshed(rig, "rt_stored"));
    check.equal(loadIdentity(rig.store)!.registration!.token, "rt_stored");
    check.deepEqual(passwords(rig), ["rt_first", "rt_stored"]);
    check.equal(device.state, "connected");
    check.ok(!/rt_(first|stored|unstored)/.test(rig.log.text()), "no token logged");
  },
);

scenario(
  "refresh faults: a power cut inside the write of the refreshed token: after the reboot the stored token connects and refreshes",
  (check) => {
    // Cut at the first byte, mid-entry, at the last byte, and after it (during the read-back).
    for (const cut of ["first", "middle", "last", "after"]) {
      const rig = new DeviceRig();
      const flash = new SimulatedNorFlash({ sectorSize: 1024, sectorCount: 2 });
      const device = registered(rig, new FlashRecordStore({ flash }));
      const request = untilRefresh(rig);
      // The entry the refresh is about to write: the record (issued now) in its header and CRC.
      const record = encodeIdentity({
        version: 1,
        keyPair: rig.keyPair,
        registration: { ...first, token: "rt_second" },
      });
      const entryBytes = entryOverheadBytes + record.length;
      const cutAt = { first: 0, middle: entryBytes >> 1, last: entryBytes - 1, after: entryBytes }[cut]!;
      const writtenBefore = flash.bytesWritten;
      flash.cutPowerAfterBytes(cutAt);
      reply(rig, request, refreshed(rig, "rt_second"));
      check.equal(
        flash.bytesWritten - writtenBefore,
        cutAt,
        `the power went after ${cutAt} bytes of the refresh's write`,
      );
      check.deepEqual(
        passwords(rig),
        ["rt_first"],
        `cut at the ${cut} byte: no switch to a token the flash did not take`,
      );
      device.stop();

      const rebooted = flash.clone();
      const identity = loadIdentity(new FlashRecordStore({ flash: rebooted }))!;
      const token = identity.registration!.token;
      check.equal(
        token,
        cut === "after" ? "rt_second" : "rt_first",
        `cut at the ${cut} byte: the old token, or the whole new one`,
      );
      check.deepEqual(identity.keyPair, rig.keyPair, "the key survives");
      const store = new FlashRecordStore({ flash: rebooted });
      const booted = new DeviceClient({
        provisioningToken: "pt_faults",
        transport: rig.broker,
        clock: rig.clock,
        random: rig.random,
        log: rig.log,
        store,
        onDisplay: () => {},
      });
      booted.start();
      rig.advance();
      check.deepEqual(passwords(rig), ["rt_first", token], "the rebooted device connects with what it stored");
      // The old token is past its refresh moment (a refresh at once); a whole new one waits half its lifetime.
      const fresh = token === "rt_second";
      reply(rig, newest(rig, "status"), { status: 200, expiresIn: fresh ? lifetimeS : lifetimeS / 2 - 1 });
      rig.advance(fresh ? refreshDueMs : 0);
      reply(rig, newest(rig, "refresh"), refreshed(rig, "rt_third"));
      check.equal(loadIdentity(store)!.registration!.token, "rt_third");
      check.deepEqual(passwords(rig), ["rt_first", token, "rt_third"]);
      check.equal(booted.state, "connected");
    }
  },
);
