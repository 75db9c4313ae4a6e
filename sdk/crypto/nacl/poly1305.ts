/** Poly1305 (RFC 8439 section 2.5): a one-time authenticator, arithmetic modulo 2^130 - 5. */
import { primeField } from "./prime-field";

const LIMBS = 10;
const BITS = 13;

/** The 16-byte tag of `message` under the one-time 32-byte `key` (r, then s). */
export function poly1305(message: Uint8Array, key: Uint8Array): Uint8Array {
  const field = primeField(LIMBS, BITS, 5);
  const memory = new Float64Array(3 * LIMBS);
  const r = memory.subarray(0, LIMBS);
  const accumulator = memory.subarray(LIMBS, 2 * LIMBS);
  const block = memory.subarray(2 * LIMBS);
  const clamped = new Uint8Array(16);
  clamped.set(key.subarray(0, 16));
  // r &= 0x0ffffffc0ffffffc0ffffffc0fffffff
  for (let i = 3; i < 16; i += 4) {
    clamped[i] &= 15;
    if (i < 15) clamped[i + 1] &= 252;
  }
  field.fromBytes(r, clamped, 0, 16);
  clamped.fill(0);
  for (let start = 0; start < message.length; start += 16) {
    const end = Math.min(start + 16, message.length);
    field.fromBytes(block, message, start, end);
    // The block read as a number with one more byte, 0x01, after its last byte.
    const top = 8 * (end - start);
    block[Math.floor(top / BITS)] += 2 ** (top % BITS);
    field.add(accumulator, accumulator, block);
    field.multiply(accumulator, accumulator, r);
  }
  field.freeze(accumulator);
  const tag = new Uint8Array(16);
  field.toBytes(tag, accumulator);
  // + s, modulo 2^128
  let carry = 0;
  for (let i = 0; i < 16; i++) {
    carry += tag[i] + key[16 + i];
    tag[i] = carry;
    carry >>>= 8;
  }
  memory.fill(0);
  field.wipe();
  return tag;
}
