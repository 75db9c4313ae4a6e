/**
 * Arithmetic modulo a prime p = 2^(limbs * bits) - fold, numbers held as `limbs` little-endian
 * limbs of `bits` bits in a Float64Array: X25519 uses 15 x 17 bits (2^255 - 19), Poly1305
 * 10 x 13 bits (2^130 - 5). Limbs are doubles, not 32-bit integers, so a column of limb products
 * stays exact (below 2^53) with no 64-bit type and no carry inside the product loop. Between
 * reductions a limb may be negative or exceed 2^bits; `multiply`, `square` and `scale` accept
 * limbs below 2^(bits + 2) in magnitude and leave every limb in [0, 2^bits) except limb 1, which
 * stays below 2^(bits + 1) in magnitude: the sum or difference of two results is again a valid
 * input. (For 15 x 17 bits the largest column is about 2^46.) No branch or array index depends on
 * a limb's value.
 */
/** Functions, not methods: the ladder takes them out of the object, and they use no `this`. */
export interface PrimeField {
  add: (out: Float64Array, a: Float64Array, b: Float64Array) => void;
  subtract: (out: Float64Array, a: Float64Array, b: Float64Array) => void;
  /** out = a * b; out may be a or b. */
  multiply: (out: Float64Array, a: Float64Array, b: Float64Array) => void;
  /** out = a * a, each cross product computed once. */
  square: (out: Float64Array, a: Float64Array) => void;
  /** out = a * k for a constant 0 <= k < 2^17. */
  scale: (out: Float64Array, a: Float64Array, k: number) => void;
  /** Makes `a`, as the operations above leave it, the canonical representative in [0, p). */
  freeze: (a: Float64Array) => void;
  /**
   * Reads bytes[start..end) as a little-endian number into `out`: bytes past `end` count as zero,
   * bits past limbs * bits are dropped (for X25519 that masks bit 255, as RFC 7748 asks).
   */
  fromBytes: (out: Float64Array, bytes: Uint8Array, start: number, end: number) => void;
  /** Writes the low bytes.length bytes of a canonical `a`, little-endian. */
  toBytes: (bytes: Uint8Array, a: Float64Array) => void;
  /** Clears the scratch, which holds products of secret values. */
  wipe: () => void;
}

/**
 * Math.floor, looked up once: the carry loops call it for every limb, and a global's property
 * looked up in a hot loop costs (in XS, and in any sandboxed realm such as jest's).
 */
const floor = Math.floor;

/** A field with its own scratch: make one per operation, not per module, so no RAM stays taken. */
export function primeField(limbs: number, bits: number, fold: number): PrimeField {
  const radix = 2 ** bits;
  /** Column sums of a product, 2 * limbs of them (the last always 0). */
  const columns = new Float64Array(2 * limbs);

  /**
   * Folds the column sums into `out`: 2^(limbs * bits) = fold (mod p) brings column i + limbs
   * down onto column i, and one carry pass leaves every limb in [0, radix). The pass's last carry
   * goes into limb 0 and limb 0's own carry into limb 1, which is why limb 1 may exceed radix.
   */
  function reduce(out: Float64Array): void {
    let carry = 0;
    for (let i = 0; i < limbs; i++) {
      const value = columns[i] + fold * columns[i + limbs] + carry;
      carry = floor(value / radix);
      out[i] = value - carry * radix;
    }
    const low = out[0] + fold * carry;
    carry = floor(low / radix);
    out[0] = low - carry * radix;
    out[1] += carry;
  }

  return {
    add(out, a, b) {
      for (let i = 0; i < limbs; i++) out[i] = a[i] + b[i];
    },
    subtract(out, a, b) {
      for (let i = 0; i < limbs; i++) out[i] = a[i] - b[i];
    },
    multiply(out, a, b) {
      columns.fill(0);
      for (let j = 0; j < limbs; j += 5) {
        const b0 = b[j],
          b1 = b[j + 1],
          b2 = b[j + 2],
          b3 = b[j + 3],
          b4 = b[j + 4];
        for (let i = 0, k = j; i < limbs; i++, k++) {
          const ai = a[i];
          columns[k] += ai * b0;
          columns[k + 1] += ai * b1;
          columns[k + 2] += ai * b2;
          columns[k + 3] += ai * b3;
          columns[k + 4] += ai * b4;
        }
      }
      reduce(out);
    },
    square(out, a) {
      columns.fill(0);
      for (let i = 0; i < limbs; i++) {
        const ai = a[i];
        columns[2 * i] += ai * ai;
        const twice = 2 * ai;
        for (let j = i + 1; j < limbs; j++) columns[i + j] += twice * a[j];
      }
      reduce(out);
    },
    scale(out, a, k) {
      columns.fill(0);
      for (let i = 0; i < limbs; i++) columns[i] = a[i] * k;
      reduce(out);
    },
    // Two carry passes bring every limb into [0, radix), so a < 2^(limbs * bits) < 2p; then p is
    // subtracted once when a >= p, chosen arithmetically from the final borrow, not by a branch.
    freeze(a) {
      for (let pass = 0; pass < 2; pass++) {
        let carry = 0;
        for (let i = 0; i < limbs; i++) {
          const value = a[i] + carry;
          carry = floor(value / radix);
          a[i] = value - carry * radix;
        }
        a[0] += fold * carry;
      }
      const difference = columns;
      let borrow = 0;
      for (let i = 0; i < limbs; i++) {
        // p's limbs: radix - fold, then radix - 1.
        const value = a[i] - (i === 0 ? radix - fold : radix - 1) + borrow;
        borrow = floor(value / radix);
        difference[i] = value - borrow * radix;
      }
      // borrow is -1 when a < p (keep a) and 0 when a >= p (take a - p).
      for (let i = 0; i < limbs; i++) a[i] = difference[i] - borrow * (a[i] - difference[i]);
    },
    fromBytes(out, bytes, start, end) {
      let pending = 0;
      let pendingBits = 0;
      for (let i = 0; i < limbs; i++) {
        for (; pendingBits < bits; pendingBits += 8) pending |= (start < end ? bytes[start++] : 0) << pendingBits;
        out[i] = pending & (radix - 1);
        pending >>>= bits;
        pendingBits -= bits;
      }
    },
    toBytes(bytes, a) {
      let pending = 0;
      let pendingBits = 0;
      let next = 0;
      for (let i = 0; i < limbs; i++) {
        pending |= a[i] << pendingBits;
        for (pendingBits += bits; pendingBits >= 8 && next < bytes.length; pendingBits -= 8) {
          bytes[next++] = pending;
          pending >>>= 8;
        }
      }
      if (next < bytes.length) bytes[next] = pending;
    },
    wipe() {
      columns.fill(0);
    },
  };
}
