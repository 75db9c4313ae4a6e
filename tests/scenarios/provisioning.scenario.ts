/** The provisioning state machine (docs/protocol.md 1) against a fake broker, step by step in virtual time. */
import { base64urlEncode } from "../../sdk/crypto/base64url";
import { commitment } from "../../sdk/crypto/verification";
import { decodeIdentity, IdentityStore, loadIdentity, type DeviceIdentity } from "../../sdk/identity";
import {
  Provisioner,
  type OperationDisplay,
  type ProvisionerOptions,
  type ProvisioningError,
} from "../../sdk/provisioning/provisioner";
import { utf8Encode } from "../../sdk/utf8";
import { DeviceRig } from "../../testkit/device/device-rig";
import { scenario, type Check } from "./harness";

const token = "pt_scenario-provisioning-token";

interface Run {
  provisioner: Provisioner;
  displays: OperationDisplay[];
  registered: DeviceIdentity[];
  failures: ProvisioningError[];
}

function run(rig: DeviceRig, extra: Partial<ProvisionerOptions> = {}): Run {
  const displays: OperationDisplay[] = [];
  const registered: DeviceIdentity[] = [];
  const failures: ProvisioningError[] = [];
  const identities = new IdentityStore(rig.store, rig.log);
  const provisioner = new Provisioner({
    transport: rig.broker,
    clock: rig.clock,
    random: rig.random,
    log: rig.log,
    save: (identity) => identities.save(identity),
    provisioningToken: token,
    identity: identities.load() ?? { version: 1, keyPair: rig.keyPair },
    onDisplay: (op) => displays.push(op),
    onRegistered: (identity) => registered.push(identity),
    onFailed: (error) => failures.push(error),
    ...extra,
  });
  provisioner.start();
  rig.advance();
  return { provisioner, displays, registered, failures };
}

/** Starts a device and answers its init: the operation is pending and revealed. */
function pending(rig: DeviceRig, operationId = "op_1", extra: Partial<ProvisionerOptions> = {}): Run {
  const r = run(rig, extra);
  rig.reply("init", rig.initReply(operationId));
  return r;
}

function storedNonce(rig: DeviceRig): Uint8Array {
  return loadIdentity(rig.store)!.pending!.deviceNonce;
}

function checkNoSecretsLogged(check: Check, rig: DeviceRig): void {
  check.ok(!rig.log.text().includes(token), "provisioning token logged");
}

scenario(
  "provisioning: connects with the provisioning token, subscribes, then sends init with a stored commitment",
  (check) => {
    const rig = new DeviceRig();
    const r = run(rig, { deviceId: "pump-0042", attributes: { model: "esp32" } });
    const connect = rig.broker.connects[0];
    check.deepEqual(connect, {
      clientId: rig.clientId,
      username: "provisioning",
      password: token,
      clean: true,
      keepalive: 60,
    });
    check.deepEqual(rig.broker.current!.subscriptions, [`prov/${rig.clientId}/res/+`]);
    const init = rig.last("init");
    const nonce = storedNonce(rig);
    check.equal(nonce.length, 16);
    check.equal(loadIdentity(rig.store)!.pending!.operationId, undefined);
    check.deepEqual(init, {
      v: 2,
      rid: init.rid,
      publicKey: base64urlEncode(rig.keyPair.publicKey),
      commitment: base64urlEncode(commitment(rig.keyPair.publicKey, nonce)),
      deviceId: "pump-0042",
      attributes: { model: "esp32" },
    });
    check.equal(r.provisioner.state, "initializing");
    check.equal(rig.requests("complete").length, 0, "no reveal before the platform answered");
    checkNoSecretsLogged(check, rig);
  },
);

scenario("provisioning: init reply shows the code, stores the operation and reveals at once", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig, "op_7Qm2");
  const complete = rig.last("complete");
  check.deepEqual(complete, {
    v: 2,
    rid: complete.rid,
    operationId: "op_7Qm2",
    deviceNonce: base64urlEncode(storedNonce(rig)),
  });
  check.deepEqual(r.displays, [{ operationId: "op_7Qm2", verificationCode: rig.codeFor("op_7Qm2"), expiresIn: 900 }]);
  check.ok(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/.test(r.displays[0].verificationCode));
  check.equal(loadIdentity(rig.store)!.pending!.operationId, "op_7Qm2");
  check.equal(r.provisioner.state, "pending");
});

scenario("provisioning: polls no faster than pollInterval and honours a longer retryAfter", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig);
  rig.reply("complete", {
    rid: rig.last("complete").rid,
    status: 202,
    operationId: "op_1",
    retryAfter: 5,
    verificationCode: rig.codeFor("op_1"),
  });
  rig.advance(4999);
  check.equal(rig.requests("complete").length, 1, "polled before pollInterval");
  rig.advance(1);
  check.equal(rig.requests("complete").length, 2);
  rig.reply("complete", {
    rid: rig.last("complete").rid,
    status: 202,
    operationId: "op_1",
    retryAfter: 12,
    verificationCode: rig.codeFor("op_1"),
  });
  rig.advance(11999);
  check.equal(rig.requests("complete").length, 2, "polled before retryAfter");
  rig.advance(1);
  check.equal(rig.requests("complete").length, 3);
  check.equal(r.displays.length, 1, "the code is shown once");
});

scenario("provisioning: slow-down adds 5 s to the poll interval", (check) => {
  const rig = new DeviceRig();
  pending(rig);
  rig.reply("complete", {
    rid: rig.last("complete").rid,
    status: 429,
    error: "slow-down",
    operationId: "op_1",
    retryAfter: 1,
  });
  rig.advance(9999);
  check.equal(rig.requests("complete").length, 1);
  rig.advance(1);
  check.equal(rig.requests("complete").length, 2);
  rig.reply("complete", {
    rid: rig.last("complete").rid,
    status: 202,
    operationId: "op_1",
    verificationCode: rig.codeFor("op_1"),
  });
  rig.advance(9999);
  check.equal(rig.requests("complete").length, 2, "the slower interval stays");
  rig.advance(1);
  check.equal(rig.requests("complete").length, 3);
});

scenario("provisioning: approval opens the token and stores it before the provisioning session closes", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig);
  let openAtWrite: boolean | undefined;
  rig.store.onWrite = (record) => {
    if (decodeIdentity(record)?.registration) openAtWrite = rig.broker.current!.open;
  };
  rig.reply("complete", rig.approval("op_1", "rt_secret-token-1"));
  check.equal(openAtWrite, true, "registration written while the session was still open");
  check.equal(rig.broker.current!.open, false, "provisioning session closed");
  const stored = loadIdentity(rig.store)!;
  check.deepEqual(stored.registration, {
    workspaceId: "ws_main",
    deviceId: "pump-0042",
    token: "rt_secret-token-1",
    lifetime: 2592000,
  });
  check.equal(stored.pending, undefined);
  check.deepEqual(stored.keyPair, rig.keyPair);
  check.equal(r.registered.length, 1);
  check.equal(r.provisioner.state, "registered");
  check.ok(!rig.log.text().includes("rt_secret-token-1"), "registration token logged");
  checkNoSecretsLogged(check, rig);
});

scenario(
  "provisioning: a pushed approval for the pending operation is accepted, one for another is ignored",
  (check) => {
    const rig = new DeviceRig();
    const r = pending(rig);
    rig.reply("complete", {
      rid: rig.last("complete").rid,
      status: 202,
      operationId: "op_1",
      verificationCode: rig.codeFor("op_1"),
    });
    rig.reply("complete", rig.approval("op_other", "rt_other", null));
    check.equal(r.registered.length, 0, "push for another operation accepted");
    rig.reply("complete", rig.approval("op_1", "rt_pushed", null));
    check.equal(r.registered.length, 1);
    check.equal(loadIdentity(rig.store)!.registration!.token, "rt_pushed");
  },
);

scenario("provisioning: an approval whose token does not open is ignored and the device polls again", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig);
  const forged = rig.approval("op_1", "rt_x");
  (forged.registration as Record<string, string>).serverPublicKey = base64urlEncode(new Uint8Array(32).fill(9));
  rig.reply("complete", forged);
  check.equal(r.registered.length, 0);
  rig.advance(5000);
  check.equal(rig.requests("complete").length, 2, "polled again");
  rig.reply("complete", rig.approval("op_1", "rt_good"));
  check.equal(r.registered.length, 1);
});

function checkNewOperation(check: Check, rig: DeviceRig, previousCommitment: unknown): void {
  const init = rig.last("init");
  check.equal(init.operationId, undefined, "a new operation is not a resume");
  check.ok(init.commitment !== previousCommitment, "a new operation has a fresh nonce");
  check.equal(init.commitment, base64urlEncode(commitment(rig.keyPair.publicKey, storedNonce(rig))));
}

for (const [status, error] of [
  [404, "unknown-operation"],
  [410, "operation-expired"],
  [410, "operation-consumed"],
] as const) {
  scenario(`provisioning: ${status} ${error} starts a new operation`, (check) => {
    const rig = new DeviceRig();
    const r = pending(rig);
    const first = rig.last("init").commitment;
    rig.reply("complete", { rid: rig.last("complete").rid, status, error, operationId: "op_1" });
    check.equal(rig.requests("init").length, 2);
    checkNewOperation(check, rig, first);
    rig.reply("init", rig.initReply("op_2"));
    check.deepEqual(
      r.displays.map((d) => d.operationId),
      ["op_1", "op_2"],
    );
    check.equal(loadIdentity(rig.store)!.pending!.operationId, "op_2");
  });
}

scenario("provisioning: a rejected operation fails with operation-rejected and clears it", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig);
  rig.reply("complete", { rid: null, status: 410, error: "operation-rejected", operationId: "op_1" });
  check.deepEqual(
    r.failures.map((f) => f.code),
    ["operation-rejected"],
  );
  check.equal(loadIdentity(rig.store)!.pending, undefined);
  check.equal(r.provisioner.state, "failed");
  rig.advance(600000);
  check.equal(rig.broker.connects.length, 1, "no reconnect after failing");
});

scenario("provisioning: a rate-limited init waits retryAfter", (check) => {
  const rig = new DeviceRig();
  run(rig);
  rig.reply("init", { rid: rig.last("init").rid, status: 429, error: "rate-limited", retryAfter: 30 });
  rig.advance(29999);
  check.equal(rig.requests("init").length, 1);
  rig.advance(1);
  check.equal(rig.requests("init").length, 2);
  check.equal(rig.requests("init")[1].commitment, rig.requests("init")[0].commitment, "same operation nonce");
});

scenario("provisioning: an init refused with 403 fails without retrying", (check) => {
  const rig = new DeviceRig();
  const r = run(rig, { deviceId: "pump-0042" });
  rig.reply("init", { rid: rig.last("init").rid, status: 403, error: "device-id-not-allowed", message: "no" });
  check.deepEqual(
    r.failures.map((f) => f.code),
    ["init-refused"],
  );
  rig.advance(600000);
  check.equal(rig.requests("init").length, 1);
});

scenario("provisioning: a verification mismatch abandons the operation", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig);
  rig.reply("complete", {
    rid: rig.last("complete").rid,
    status: 202,
    operationId: "op_1",
    verificationCode: "AAAA-AAAA",
  });
  check.deepEqual(
    r.failures.map((f) => f.code),
    ["verification-mismatch"],
  );
  check.equal(loadIdentity(rig.store)!.pending, undefined, "operation abandoned");
  rig.advance(600000);
  check.equal(rig.requests("complete").length, 1, "no more polls");
  check.equal(rig.broker.current!.open, false);
});

scenario("provisioning: a missing reply times out and is retried with backoff, polls keep their interval", (check) => {
  const rig = new DeviceRig();
  const r = run(rig, { replyTimeoutMs: 10000 });
  rig.advance(9999);
  check.equal(rig.requests("init").length, 1);
  rig.advance(1);
  const timeoutAt = rig.clock.now();
  check.equal(rig.requests("init").length, 1, "not resent at once");
  const delay = rig.clock.nextTimerIn()!;
  check.ok(delay >= 0 && delay <= 1000, `first retry within the 1 s jitter bound, got ${delay}`);
  rig.advance(delay);
  check.equal(rig.requests("init").length, 2);
  check.ok(((rig.clock.now() - timeoutAt) | 0) <= 1000);
  check.equal(rig.requests("init")[1].commitment, rig.requests("init")[0].commitment);
  rig.reply("init", rig.initReply("op_1"));
  const firstPollAt = rig.clock.now();
  rig.advance(10000);
  // The reveal went unanswered: the retry honours the 5 s poll interval even if the jitter is small.
  rig.advance(rig.clock.nextTimerIn());
  check.equal(rig.requests("complete").length, 2);
  check.ok(((rig.clock.now() - firstPollAt) | 0) >= 5000);
  check.equal(r.provisioner.state, "pending");
});

scenario("provisioning: malformed, oversized, foreign and duplicated replies are ignored", (check) => {
  const rig = new DeviceRig();
  const r = run(rig);
  const rid = rig.last("init").rid;
  rig.reply("init", utf8Encode("{not json"));
  rig.reply("init", new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]));
  rig.reply("init", utf8Encode("[1,2]"));
  rig.reply("init", rig.initReply("op_big", { padding: "x".repeat(4100) }));
  rig.reply("init", { ...rig.initReply("op_wrong_rid"), rid: "999" });
  rig.reply("init", { ...rig.initReply("op_bad_nonce"), nonce: "AAAA" });
  rig.reply("complete", { rid, status: 202, operationId: "op_x" });
  rig.broker.current!.deliver(
    `prov/p-00000000000000000000/res/init`,
    utf8Encode(JSON.stringify(rig.initReply("op_foreign"))),
  );
  rig.advance();
  check.equal(r.displays.length, 0, "no bad reply was taken");
  check.equal(r.provisioner.state, "initializing");
  rig.reply("init", rig.initReply("op_1"));
  rig.reply("init", rig.initReply("op_1"));
  check.deepEqual(
    r.displays.map((d) => d.operationId),
    ["op_1"],
  );
  check.equal(rig.requests("complete").length, 1, "a duplicated init reply sends no second reveal");
  const complete = rig.last("complete");
  rig.reply("complete", { rid: complete.rid, status: 202, operationId: "op_1", verificationCode: rig.codeFor("op_1") });
  rig.reply("complete", { rid: complete.rid, status: 202, operationId: "op_1", verificationCode: rig.codeFor("op_1") });
  rig.advance(5000);
  check.equal(rig.requests("complete").length, 2, "one poll, not two");
});

scenario("provisioning: an expired operation leads to a new operation", (check) => {
  const rig = new DeviceRig();
  const r = run(rig);
  rig.reply("init", rig.initReply("op_1", { expiresIn: 60, pollInterval: 5 }));
  const first = rig.last("init").commitment;
  for (let i = 0; i < 11; i++) {
    rig.advance(5000);
    rig.reply("complete", {
      rid: rig.last("complete").rid,
      status: 202,
      operationId: "op_1",
      verificationCode: rig.codeFor("op_1"),
    });
  }
  check.equal(rig.requests("init").length, 1);
  rig.advance(5000);
  check.equal(rig.requests("init").length, 2);
  checkNewOperation(check, rig, first);
  rig.reply("init", rig.initReply("op_2"));
  check.equal(r.displays[1].operationId, "op_2");
  check.equal(r.failures.length, 0);
});

scenario("provisioning: a reboot while pending asks about the stored operation, then resumes it with init", (check) => {
  const rig = new DeviceRig();
  const first = pending(rig, "op_keep");
  first.provisioner.stop();
  rig.advance();
  check.equal(first.provisioner.state, "stopped");
  const second = run(rig);
  const poll = rig.last("complete");
  check.deepEqual(
    [rig.requests("complete").length, poll.operationId, poll.deviceNonce],
    [2, "op_keep", rig.requests("complete")[0].deviceNonce],
  );
  check.equal(rig.requests("init").length, 1, "complete comes first");
  rig.reply("complete", {
    rid: poll.rid,
    status: 202,
    operationId: "op_keep",
    verificationCode: rig.codeFor("op_keep"),
  });
  const init = rig.last("init");
  check.equal(init.operationId, "op_keep");
  check.equal(init.commitment, rig.requests("init")[0].commitment, "same nonce");
  rig.reply("init", rig.initReply("op_keep"));
  check.deepEqual(second.displays, first.displays, "same code after the reboot");
  check.equal(rig.requests("complete").length, 2, "the next poll waits for the interval");
  rig.advance(5000);
  check.equal(rig.requests("complete").length, 3);
  rig.reply("complete", rig.approval("op_keep", "rt_after_reboot"));
  check.equal(loadIdentity(rig.store)!.registration!.token, "rt_after_reboot");
});

scenario("provisioning: a reboot after the approval collects the token with the first complete", (check) => {
  const rig = new DeviceRig();
  pending(rig, "op_done").provisioner.stop();
  const r = run(rig);
  check.equal(rig.requests("init").length, 1);
  rig.reply("complete", rig.approval("op_done", "rt_collected"));
  check.equal(r.registered.length, 1);
  check.equal(loadIdentity(rig.store)!.registration!.token, "rt_collected");
  check.equal(r.displays.length, 0);
});

scenario("provisioning: a resume answered with another operation draws a fresh nonce", (check) => {
  const rig = new DeviceRig();
  pending(rig, "op_old").provisioner.stop();
  const r = run(rig);
  const first = rig.last("init").commitment;
  rig.reply("complete", { rid: rig.last("complete").rid, status: 202, operationId: "op_old" });
  rig.reply("init", rig.initReply("op_new"));
  check.equal(r.displays.length, 0, "no code for an operation committed to a revealed nonce");
  check.equal(rig.requests("init").length, 3);
  checkNewOperation(check, rig, first);
});

scenario("provisioning: after a lost connection the device polls its operation again", (check) => {
  const rig = new DeviceRig();
  const r = pending(rig);
  rig.broker.current!.drop();
  rig.advance();
  check.equal(r.provisioner.state, "connecting");
  rig.advance(rig.clock.nextTimerIn());
  rig.advance(5000);
  check.equal(rig.broker.connects.length, 2);
  check.equal(rig.requests("init").length, 1, "no init needed: the code is known");
  check.equal(rig.last("complete").operationId, "op_1");
  rig.reply("complete", rig.approval("op_1", "rt_1"));
  check.equal(r.displays.length, 1);
  check.equal(r.registered.length, 1);
});

scenario("provisioning: CONNACK 5 stops with provisioning-token-refused, never retrying", (check) => {
  const rig = new DeviceRig();
  rig.broker.connackCode = 5;
  const r = run(rig);
  rig.advance();
  check.deepEqual(
    r.failures.map((f) => f.code),
    ["provisioning-token-refused"],
  );
  rig.advance(3600000);
  check.equal(rig.broker.connects.length, 1);
});

scenario("provisioning: a refused subscription fails instead of publishing blind", (check) => {
  const rig = new DeviceRig();
  rig.broker.allowSubscribe = () => false;
  const r = run(rig);
  rig.advance();
  check.deepEqual(
    r.failures.map((f) => f.code),
    ["subscribe-refused"],
  );
  check.equal(rig.requests("init").length, 0);
});

scenario(
  "identity: a registration stored with a tick beyond 32 bits (Moddable's simulator counts epoch ms) still loads",
  (check) => {
    const key = (fill: number) => base64urlEncode(new Uint8Array(32).fill(fill));
    const registration = {
      ws: "ws_main",
      dev: "pump-0042",
      tok: "rt_secret-token-1",
      life: 2592000,
      at: 1765000000000,
    };
    const identity = decodeIdentity(utf8Encode(JSON.stringify({ v: 1, pk: key(1), sk: key(2), reg: registration })));
    check.deepEqual(identity?.registration, {
      workspaceId: "ws_main",
      deviceId: "pump-0042",
      token: "rt_secret-token-1",
      lifetime: 2592000,
    });
  },
);
