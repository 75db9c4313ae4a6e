import nacl from "tweetnacl";
import type { Random } from "../ports";

/** An X25519 key pair: 32-byte public and secret keys. */
export interface DeviceKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/**
 * Whether `useRandom` ran. In Node tweetnacl finds node:crypto by itself, so its own "no PRNG"
 * error would not fire there: this flag makes every target refuse keys until the app chose a source.
 */
let randomInstalled = false;

/** Installs the Random port as tweetnacl's PRNG (nacl.setPRNG). Call once at start, before any key or nonce. */
export function useRandom(random: Random): void {
  nacl.setPRNG((bytes: Uint8Array, length: number) => {
    random.fill(length === bytes.length ? bytes : bytes.subarray(0, length));
  });
  randomInstalled = true;
}

function requireRandom(): void {
  if (!randomInstalled) throw new Error("no PRNG: call useRandom() before making keys or nonces");
}

export function generateDeviceKeyPair(): DeviceKeyPair {
  requireRandom();
  return nacl.box.keyPair();
}

export function randomBytes(length: number): Uint8Array {
  requireRandom();
  return nacl.randomBytes(length);
}
