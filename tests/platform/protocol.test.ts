/** docs/protocol.md's vectors reproduced by the platform's own code (not the SDK's). */
import nacl from "tweetnacl";
import vectors from "../../docs/protocol-vectors.json";
import {
  commitmentMatches,
  commitmentOf,
  fromBase64url,
  normalizeVerificationCode,
  provisioningClientId,
  sealToken,
  toBase64url,
  verificationCode,
} from "../../simulator/platform/protocol";
import { routingKeyOf, topicOf } from "../../simulator/platform/cluster/broker-auth";
import { mayPublish, maySubscribe, rootsOf } from "../../simulator/platform/topic-access";

const bytes = (text: string) => new Uint8Array(Buffer.from(text, "base64url"));

describe.each(vectors.provisioning)("vector $operationId", (v) => {
  const publicKey = bytes(v.publicKey);
  const deviceNonce = bytes(v.deviceNonce);

  test("the public key belongs to the secret key", () => {
    expect(toBase64url(nacl.box.keyPair.fromSecretKey(bytes(v.secretKey)).publicKey)).toBe(v.publicKey);
  });
  test("client ID", () => {
    expect(provisioningClientId(publicKey)).toBe(v.clientId);
  });
  test("commitment and its check", () => {
    expect(toBase64url(commitmentOf(publicKey, deviceNonce))).toBe(v.commitment);
    expect(commitmentMatches(bytes(v.commitment), publicKey, deviceNonce)).toBe(true);
    const otherNonce = Uint8Array.from(deviceNonce, (b, i) => (i === 0 ? b ^ 1 : b));
    expect(commitmentMatches(bytes(v.commitment), publicKey, otherNonce)).toBe(false);
  });
  test("verification code", () => {
    expect(verificationCode(publicKey, deviceNonce, bytes(v.nonce), v.operationId)).toBe(v.verificationCode);
    expect(normalizeVerificationCode(v.verificationCode.toLowerCase().replace("-", ""))).toBe(v.verificationCode);
  });
});

test("the vector's sealed token opens with the device key to the registration token", () => {
  const s = vectors.sealedToken;
  const opened = nacl.box.open(bytes(s.sealed), bytes(s.nonce), bytes(s.serverPublicKey), bytes(s.deviceSecretKey));
  expect(Buffer.from(opened!).toString("utf8")).toBe(s.registrationToken);
});

test("a token the platform seals opens only with the device's secret key", () => {
  const s = vectors.sealedToken;
  const device = nacl.box.keyPair.fromSecretKey(bytes(s.deviceSecretKey));
  const sealed = sealToken(s.registrationToken, device.publicKey);
  expect(bytes(sealed.nonce)).toHaveLength(24);
  const open = (secretKey: Uint8Array) =>
    nacl.box.open(bytes(sealed.sealed), bytes(sealed.nonce), bytes(sealed.serverPublicKey), secretKey);
  expect(Buffer.from(open(device.secretKey)!).toString("utf8")).toBe(s.registrationToken);
  expect(open(nacl.box.keyPair().secretKey)).toBeNull();
  // A fresh ephemeral server key each time.
  expect(sealToken(s.registrationToken, device.publicKey).serverPublicKey).not.toBe(sealed.serverPublicKey);
});

test("base64url decoding is strict about length and alphabet", () => {
  expect(fromBase64url("AAAA", 3)).toEqual(Buffer.from([0, 0, 0]));
  expect(fromBase64url("AAAA", 4)).toBeUndefined();
  expect(fromBase64url("AA+A", 3)).toBeUndefined();
  expect(fromBase64url("AAA=", 2)).toBeUndefined();
  expect(fromBase64url(42, 3)).toBeUndefined();
});

describe.each(vectors.topics)("topics of $deviceId", (v) => {
  const session = { kind: "registered", workspaceId: v.workspaceId, deviceId: v.deviceId, tokenId: "" } as const;

  test("its root, and its requests and messages read back to its Device ID, stream and message id", () => {
    expect(rootsOf(session, false)).toEqual([v.root]);
    expect(mayPublish(session, v.requestToken, false)).toEqual({ request: "token", root: v.root });
    expect(mayPublish(session, v.message, false)).toEqual({ stream: v.stream, messageId: v.messageId });
    expect(maySubscribe(session, `${v.root}/res/+`, false)).toBe(true);
  });

  test("through a broker that turns '/' into '.' and back, its topics are whole", () => {
    for (const topic of [v.requestToken, v.message]) expect(topicOf(routingKeyOf(topic))).toBe(topic);
  });
});
