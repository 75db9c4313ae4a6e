/** X25519 (RFC 7748 section 5): the Montgomery ladder on Curve25519, u-coordinates only. */
import { primeField, type PrimeField } from "./prime-field";

const LIMBS = 15;
/** (486662 - 2) / 4, RFC 7748's a24 for curve25519. */
const A24 = 121665;

/** out = z^(p - 2) = 1/z (0 for z = 0): 254 squarings and 11 multiplications (p - 2 = 2^255 - 21). */
function invert(
  { square, multiply }: PrimeField,
  out: Float64Array,
  z: Float64Array,
  z11: Float64Array,
  t1: Float64Array,
  t2: Float64Array,
  t3: Float64Array,
): void {
  const squareTimes = (to: Float64Array, from: Float64Array, times: number) => {
    square(to, from);
    for (let i = 1; i < times; i++) square(to, to);
  };
  square(z11, z); // z^2
  squareTimes(t1, z11, 2); // z^8
  multiply(t1, t1, z); // z^9
  multiply(z11, z11, t1); // z^11
  square(t2, z11); // z^22
  multiply(t1, t1, t2); // z^(2^5 - 1)
  squareTimes(t2, t1, 5);
  multiply(t1, t2, t1); // z^(2^10 - 1)
  squareTimes(t2, t1, 10);
  multiply(t2, t2, t1); // z^(2^20 - 1)
  squareTimes(t3, t2, 20);
  multiply(t2, t3, t2); // z^(2^40 - 1)
  squareTimes(t2, t2, 10);
  multiply(t1, t2, t1); // z^(2^50 - 1)
  squareTimes(t2, t1, 50);
  multiply(t2, t2, t1); // z^(2^100 - 1)
  squareTimes(t3, t2, 100);
  multiply(t2, t3, t2); // z^(2^200 - 1)
  squareTimes(t2, t2, 50);
  multiply(t2, t2, t1); // z^(2^250 - 1)
  squareTimes(t2, t2, 5); // z^(2^255 - 32)
  multiply(out, t2, z11); // z^(2^255 - 21)
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
  const memory = new Float64Array(LIMBS * 18);
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
  invert(field, z2, z2, limbs(14), limbs(15), limbs(16), limbs(17));
  multiply(x2, x2, z2);
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
