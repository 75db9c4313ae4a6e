import { utf8Encode } from "../utf8";
import { sha512 } from "./nacl/sha512";

// Protocol section 1: domain-separation prefixes, so one digest can never stand for another.
const COMMITMENT_PREFIX = utf8Encode("commitment/v1");
const VERIFICATION_CODE_PREFIX = utf8Encode("verification-code/v1");
const HEX = "0123456789abcdef";
const CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** SHA-512 of the parts written one after the other into a single buffer. */
function sha512Of(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (let i = 0; i < parts.length; i++) length += parts[i].length;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (let i = 0; i < parts.length; i++) {
    joined.set(parts[i], offset);
    offset += parts[i].length;
  }
  return sha512(joined);
}

/** "p-" and the first 20 lowercase hex digits (10 bytes) of SHA-512(publicKey): 22 characters. */
export function provisioningClientId(publicKey: Uint8Array): string {
  const digest = sha512(publicKey);
  let id = "p-";
  for (let i = 0; i < 10; i++) id += HEX[digest[i] >> 4] + HEX[digest[i] & 15];
  return id;
}

/** First 32 bytes of SHA-512("commitment/v1" || publicKey || deviceNonce). */
export function commitment(publicKey: Uint8Array, deviceNonce: Uint8Array): Uint8Array {
  return sha512Of([COMMITMENT_PREFIX, publicKey, deviceNonce]).slice(0, 32);
}

/**
 * First 40 bits of SHA-512("verification-code/v1" || publicKey || deviceNonce || nonce || operationId)
 * as 8 Crockford base32 symbols, "XXXX-XXXX".
 */
export function verificationCode(
  publicKey: Uint8Array,
  deviceNonce: Uint8Array,
  nonce: Uint8Array,
  operationId: string,
): string {
  const digest = sha512Of([VERIFICATION_CODE_PREFIX, publicKey, deviceNonce, nonce, utf8Encode(operationId)]);
  // 40 bits exceed 32-bit integer arithmetic: take them as two 20-bit halves of 4 symbols each.
  const high = (digest[0] << 12) | (digest[1] << 4) | (digest[2] >> 4);
  const low = ((digest[2] & 15) << 16) | (digest[3] << 8) | digest[4];
  return symbols(high) + "-" + symbols(low);
}

function symbols(twentyBits: number): string {
  return (
    CROCKFORD32[twentyBits >> 15] +
    CROCKFORD32[(twentyBits >> 10) & 31] +
    CROCKFORD32[(twentyBits >> 5) & 31] +
    CROCKFORD32[twentyBits & 31]
  );
}
