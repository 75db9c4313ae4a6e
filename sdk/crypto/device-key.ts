import type { Random } from "../ports";
import { x25519Base } from "./nacl/x25519";

/** An X25519 key pair: 32-byte public and secret keys. */
export interface DeviceKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/**
 * A new key pair: 32 bytes from the Random port are the secret key (kept as drawn; X25519 clamps
 * it on every use, RFC 7748 section 5), the public key is its multiple of the base point.
 */
export function generateDeviceKeyPair(random: Random): DeviceKeyPair {
  const secretKey = new Uint8Array(32);
  random.fill(secretKey);
  return { publicKey: x25519Base(secretKey), secretKey };
}
