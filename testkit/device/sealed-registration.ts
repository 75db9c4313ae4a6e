/** Seals a registration token as the platform does (docs/protocol.md 1c), for scenarios of the device side. */
import nacl from "tweetnacl";
import { base64urlEncode } from "../../sdk/crypto/base64url";
import type { SealedRegistration } from "../../sdk/crypto/sealed-token";
import { utf8Encode } from "../../sdk/utf8";
import { SeededRandom } from "./seeded-random";

/**
 * The platform's side of the scenarios: its own seeded source for the server key and nonce, so
 * sealing needs no PRNG inside tweetnacl (XS has none) and draws nothing from a rig's Random.
 */
const platformRandom = new SeededRandom(0x5ea1ed);

function drawn(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  platformRandom.fill(bytes);
  return bytes;
}

/** tweetnacl's box, sealed by a fresh server key: the device side is checked against another implementation. */
export function sealRegistration(token: string, devicePublicKey: Uint8Array): SealedRegistration {
  const server = nacl.box.keyPair.fromSecretKey(drawn(nacl.box.secretKeyLength));
  const nonce = drawn(nacl.box.nonceLength);
  return {
    sealed: base64urlEncode(nacl.box(utf8Encode(token), nonce, devicePublicKey, server.secretKey)),
    nonce: base64urlEncode(nonce),
    serverPublicKey: base64urlEncode(server.publicKey),
  };
}
