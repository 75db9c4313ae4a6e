/** X25519 (RFC 7748 section 5): the Montgomery ladder on Curve25519, u-coordinates only. */
import { primeField, type PrimeField } from "./prime-field";

const LIMBS = 15;
/** (486662 - 2) / 4, RFC 7748's a24 for curve25519. */
const A24 = 121665;

/**
 * out = z^(p - 2) = 1/z (0 for z = 0), bit by bit of p - 2 = 2^255 - 21 (every bit set but 2 and 4):
 * 254 squarings and 249 multiplications, where an addition chain needs 11 multiplications but
 * 350 bytes more of bytecode; one X25519 takes about 10% longer (bench/results/crypto.json).
 * The exponent is public: the branch depends on no secret.
 */
function invert({ square, multiply }: PrimeField, out: Float64Array, z: Float64Array): void {
  out.set(z);
  for (let bit = 253; bit >= 0; bit--) {
    square(out, out);
    if (bit !== 2 && bit !== 4) multiply(out, out, z);
  }
}

/** Swaps a and b when swap is 1, leaves them when 0: a mask, not a branch (limbs are small integers). */
function conditionalSwap(a: Float64Array, b: Float64Array, swap: number): void {
  const mask = -swap;
  for (let i = 0; i < LIMBS; i++) {
    const t = mask & (a[i] ^ b[i]);
    a[i] ^= t;
    b[i] ^= t;
  }
}

/**
 * The 32-byte u-coordinate of scalar * P for the point P with u-coordinate `uCoordinate`. Decoding
 * as RFC 7748 asks: the scalar is clamped (a copy: the caller's bytes stay as they are), bit 255
 * of u is ignored and a non-canonical u (p <= u < 2^255) is used as it is, reduced by the arithmetic.
 */
export function x25519(scalar: Uint8Array, uCoordinate: Uint8Array): Uint8Array {
  const field = primeField(LIMBS, 17, 19);
  const { add, subtract, multiply, square } = field;
  // A copy by set, not slice: Buffer's slice is a view, and clamping must not touch the caller's bytes.
  const k = new Uint8Array(32);
  k.set(scalar);
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  const memory = new Float64Array(LIMBS * 14);
  // Named one by one: XS compiles array destructuring into the iterator protocol (400 bytes here).
  const limbs = (i: number) => memory.subarray(i * LIMBS, (i + 1) * LIMBS);
  const x1 = limbs(0),
    x2 = limbs(1),
    z2 = limbs(2),
    x3 = limbs(3),
    z3 = limbs(4),
    a = limbs(5),
    aa = limbs(6),
    b = limbs(7),
    bb = limbs(8),
    e = limbs(9),
    c = limbs(10),
    d = limbs(11),
    da = limbs(12),
    cb = limbs(13);
  field.fromBytes(x1, uCoordinate, 0, 32);
  x2[0] = 1;
  x3.set(x1);
  z3[0] = 1;
  let swap = 0;
  for (let t = 254; t >= 0; t--) {
    const bit = (k[t >>> 3] >>> (t & 7)) & 1;
    swap ^= bit;
    conditionalSwap(x2, x3, swap);
    conditionalSwap(z2, z3, swap);
    swap = bit;
    add(a, x2, z2);
    square(aa, a);
    subtract(b, x2, z2);
    square(bb, b);
    subtract(e, aa, bb);
    add(c, x3, z3);
    subtract(d, x3, z3);
    multiply(da, d, a);
    multiply(cb, c, b);
    add(x3, da, cb);
    square(x3, x3);
    subtract(z3, da, cb);
    square(z3, z3);
    multiply(z3, z3, x1);
    multiply(x2, aa, bb);
    field.scale(z2, e, A24);
    add(z2, z2, aa);
    multiply(z2, z2, e);
  }
  conditionalSwap(x2, x3, swap);
  conditionalSwap(z2, z3, swap);
  // x3 is free once the ladder is done: it takes 1/z2.
  invert(field, x3, z2);
  multiply(x2, x2, x3);
  field.freeze(x2);
  const out = new Uint8Array(32);
  field.toBytes(out, x2);
  memory.fill(0);
  field.wipe();
  k.fill(0);
  return out;
}

const BASE_POINT = 9;

/** The public key of a secret key: scalar times the base point (u = 9). */
export function x25519Base(scalar: Uint8Array): Uint8Array {
  const u = new Uint8Array(32);
  u[0] = BASE_POINT;
  return x25519(scalar, u);
}
