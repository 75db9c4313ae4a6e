import vectors from "../../docs/protocol-vectors.json";
import {
  base64urlDecode,
  base64urlEncode,
  commitment,
  generateDeviceKeyPair,
  openRegistrationToken,
  provisioningClientId,
  verificationCode,
} from "../../sdk/crypto/index";
import type { Random } from "../../sdk/ports";
import { scenario, type Check } from "./harness";

function decoded(check: Check, text: string): Uint8Array {
  const bytes = base64urlDecode(text);
  check.ok(bytes !== undefined, `vector field ${text} decodes`);
  return bytes as Uint8Array;
}

/** A Random that hands out the given bytes in order, and fails when asked for more. */
function replayRandom(source: Uint8Array): Random {
  let offset = 0;
  return {
    fill(bytes) {
      if (offset + bytes.length > source.length) throw new Error("replayRandom exhausted");
      bytes.set(source.subarray(offset, offset + bytes.length));
      offset += bytes.length;
    },
  };
}

/** A seeded linear congruential generator: deterministic, good enough to tell two seeds apart. */
function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    fill(bytes) {
      for (let i = 0; i < bytes.length; i++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        bytes[i] = state >>> 24;
      }
    },
  };
}

scenario("crypto: client id, commitment and verification code reproduce every protocol vector", (check) => {
  check.ok(vectors.provisioning.length >= 3, "the vector file has its provisioning vectors");
  for (const v of vectors.provisioning) {
    const publicKey = decoded(check, v.publicKey);
    const deviceNonce = decoded(check, v.deviceNonce);
    const nonce = decoded(check, v.nonce);
    check.equal(provisioningClientId(publicKey), v.clientId, "clientId");
    check.equal(base64urlEncode(commitment(publicKey, deviceNonce)), v.commitment, "commitment");
    check.equal(verificationCode(publicKey, deviceNonce, nonce, v.operationId), v.verificationCode, "verificationCode");
  }
});

scenario("crypto: a device key pair is the Random port's 32 bytes and their X25519 public key", (check) => {
  for (const v of vectors.provisioning) {
    const secretKey = decoded(check, v.secretKey);
    const pair = generateDeviceKeyPair(replayRandom(secretKey));
    check.deepEqual(pair.secretKey, secretKey, "secret key drawn from the port");
    check.equal(base64urlEncode(pair.publicKey), v.publicKey, "public key of the vector");
  }
});

scenario("crypto: the same Random gives the same key pair, another Random a different one", (check) => {
  const first = generateDeviceKeyPair(seededRandom(7));
  const again = generateDeviceKeyPair(seededRandom(7));
  const other = generateDeviceKeyPair(seededRandom(8));
  check.equal(first.publicKey.length, 32, "public key length");
  check.equal(first.secretKey.length, 32, "secret key length");
  check.deepEqual(again, first, "same seed, same key pair");
  check.equal(
    base64urlEncode(other.secretKey) === base64urlEncode(first.secretKey),
    false,
    "other seed, other secret key",
  );
  check.equal(
    base64urlEncode(other.publicKey) === base64urlEncode(first.publicKey),
    false,
    "other seed, other public key",
  );
});

scenario("crypto: a key pair takes exactly 32 bytes from the Random port", (check) => {
  const source = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
  const random = replayRandom(source);
  check.deepEqual(generateDeviceKeyPair(random).secretKey, source.subarray(0, 32), "first 32 bytes");
  check.deepEqual(generateDeviceKeyPair(random).secretKey, source.subarray(32), "next 32 bytes");
  let refused = false;
  try {
    generateDeviceKeyPair(random);
  } catch {
    refused = true;
  }
  check.ok(refused, "nothing left for a third pair");
});

scenario("crypto: the sealed token vector opens to its registration token", (check) => {
  const t = vectors.sealedToken;
  const registration = { sealed: t.sealed, nonce: t.nonce, serverPublicKey: t.serverPublicKey };
  check.equal(openRegistrationToken(registration, decoded(check, t.deviceSecretKey)), t.registrationToken);
});

scenario("crypto: a reply's registration field opens only when it is a well-formed object", (check) => {
  const t = vectors.sealedToken;
  const secretKey = decoded(check, t.deviceSecretKey);
  const good = { sealed: t.sealed, nonce: t.nonce, serverPublicKey: t.serverPublicKey };
  check.equal(openRegistrationToken(good, secretKey), t.registrationToken);
  for (const bad of [
    undefined,
    null,
    "x",
    7,
    [],
    {},
    { ...good, sealed: 5 },
    { ...good, nonce: null },
    { ...good, serverPublicKey: [1] },
  ])
    check.equal(openRegistrationToken(bad, secretKey), undefined, `refuses ${JSON.stringify(bad)}`);
});

scenario("crypto: a tampered sealed token, a wrong key or a bad encoding does not open", (check) => {
  const t = vectors.sealedToken;
  const secretKey = decoded(check, t.deviceSecretKey);
  const good = { sealed: t.sealed, nonce: t.nonce, serverPublicKey: t.serverPublicKey };
  const flipped = (text: string, index: number): string => {
    const bytes = decoded(check, text);
    bytes[index] ^= 1;
    return base64urlEncode(bytes);
  };
  const sealedLength = decoded(check, t.sealed).length;
  for (const index of [0, 15, 16, sealedLength - 1]) {
    check.equal(
      openRegistrationToken({ ...good, sealed: flipped(t.sealed, index) }, secretKey),
      undefined,
      `sealed byte ${index}`,
    );
  }
  check.equal(openRegistrationToken({ ...good, nonce: flipped(t.nonce, 23) }, secretKey), undefined, "nonce");
  check.equal(
    openRegistrationToken({ ...good, serverPublicKey: flipped(t.serverPublicKey, 5) }, secretKey),
    undefined,
    "server key",
  );
  check.equal(
    openRegistrationToken(good, decoded(check, vectors.provisioning[1].secretKey)),
    undefined,
    "another device's key",
  );
  check.equal(openRegistrationToken(good, secretKey.subarray(0, 31)), undefined, "short device key");
  check.equal(openRegistrationToken({ ...good, sealed: t.sealed.slice(0, 20) }, secretKey), undefined, "truncated");
  check.equal(openRegistrationToken({ ...good, sealed: "" }, secretKey), undefined, "empty");
  check.equal(openRegistrationToken({ ...good, sealed: t.sealed + "=" }, secretKey), undefined, "padded");
  check.equal(openRegistrationToken({ ...good, nonce: t.nonce.slice(0, 28) }, secretKey), undefined, "short nonce");
  check.equal(
    openRegistrationToken({ ...good, serverPublicKey: t.serverPublicKey + "AA" }, secretKey),
    undefined,
    "long key",
  );
  const notAString = 42 as unknown as string;
  check.equal(openRegistrationToken({ ...good, nonce: notAString }, secretKey), undefined, "number for nonce");
});

scenario("crypto: base64url matches RFC 4648 and round trips every byte value and length", (check) => {
  const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  const rfc: [string, string][] = [
    ["", ""],
    ["f", "Zg"],
    ["fo", "Zm8"],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg"],
    ["fooba", "Zm9vYmE"],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, encoded] of rfc) {
    check.equal(base64urlEncode(ascii(plain)), encoded, `encode ${plain}`);
    check.deepEqual(base64urlDecode(encoded), ascii(plain), `decode ${encoded}`);
  }
  // 0xfb 0xff uses both characters that differ from standard base64 ('+' '/' become '-' '_').
  check.equal(base64urlEncode(Uint8Array.of(0xfb, 0xff)), "-_8");
  const all = new Uint8Array(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  for (let length = 0; length <= 256; length++) {
    const bytes = all.subarray(256 - length);
    const text = base64urlEncode(bytes);
    check.equal(text.length, Math.ceil((length * 4) / 3), `encoded length of ${length} bytes`);
    check.deepEqual(base64urlDecode(text), bytes, `round trip of ${length} bytes`);
  }
});

scenario("crypto: base64url rejects padding, '+', '/', foreign characters and impossible lengths", (check) => {
  const rejected = [
    "Zg==",
    "Zm8=",
    "Zg=",
    "=", // padding
    "-+8",
    "-/8",
    "Zm 9v",
    "Zm9v\n",
    "Zm.v",
    "Zé9v",
    "Zm9v😀", // characters outside [A-Za-z0-9_-]
    "Z",
    "Zm9vY",
    "Zm9vYmFyZ", // a length no encoder makes
    "Zh",
    "Zm9",
    "-_9", // unused bits set: only "Zg", "Zm8", "-_8" encode those bytes
  ];
  for (const text of rejected) check.equal(base64urlDecode(text), undefined, JSON.stringify(text));
  check.equal(base64urlDecode(null as unknown as string), undefined, "null");
});
