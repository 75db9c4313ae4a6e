/** Seals a registration token as the platform does (PROTOCOL 1c), for scenarios of the device side. */
import nacl from "tweetnacl";
import { base64urlEncode } from "../../sdk/crypto/base64url";
import type { SealedRegistration } from "../../sdk/crypto/sealed-token";
import { utf8Encode } from "../../sdk/utf8";

/** Uses tweetnacl's PRNG: call `useRandom` first. */
export function sealRegistration(token: string, devicePublicKey: Uint8Array): SealedRegistration {
  const server = nacl.box.keyPair();
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  return {
    sealed: base64urlEncode(nacl.box(utf8Encode(token), nonce, devicePublicKey, server.secretKey)),
    nonce: base64urlEncode(nonce),
    serverPublicKey: base64urlEncode(server.publicKey),
  };
}
