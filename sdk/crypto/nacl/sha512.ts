/**
 * SHA-512 (FIPS 180-4 sections 5.1.2, 6.4). A 64-bit word is two signed 32-bit halves, high and
 * low; a 64-bit sum adds the low halves as unsigned numbers (exact in a double) and carries
 * whatever passed 2^32 into the high half.
 */

// Section 4.2.3: the 80 round constants, each as its high and low 32-bit halves, in the order
// printed there. Frozen module constants: preloaded on the device, they stay in flash.
const ROUND_CONSTANTS: readonly number[] = Object.freeze([
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc, 0x3956c25b,
  0xf348b538, 0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118, 0xd807aa98, 0xa3030242,
  0x12835b01, 0x45706fbe, 0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2, 0x72be5d74, 0xf27b896f, 0x80deb1fe,
  0x3b1696b1, 0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694, 0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3,
  0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65, 0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc,
  0xbd41fbd4, 0x76f988da, 0x831153b5, 0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f,
  0xbf597fc7, 0xbeef0ee4, 0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725, 0x06ca6351, 0xe003826f, 0x14292967,
  0x0a0e6e70, 0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b, 0xa2bfe8a1,
  0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30, 0xd192e819, 0xd6ef5218,
  0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8, 0x19a4c116, 0xb8d2d0c8, 0x1e376c08,
  0x5141ab53, 0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8, 0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb,
  0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3, 0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814,
  0xa1f0ab72, 0x8cc70208, 0x1a6439ec, 0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915,
  0xc67178f2, 0xe372532b, 0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f,
  0xee6ed178, 0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6, 0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c, 0x4cc5d4be,
  0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
]);
// Section 5.3.5: the initial hash value H(0), high and low halves.
const INITIAL_HASH: readonly number[] = Object.freeze([
  0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1, 0x510e527f,
  0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
]);

const TWO_TO_32 = 4294967296;

function storeBigEndian32(bytes: Uint8Array, offset: number, word: number): void {
  bytes[offset] = word >>> 24;
  bytes[offset + 1] = word >>> 16;
  bytes[offset + 2] = word >>> 8;
  bytes[offset + 3] = word;
}

/** words[i..i+2) += (high, low), where `low` may exceed 2^32 if `high` already holds its carry. */
function add64(words: Int32Array, i: number, high: number, low: number): void {
  const sum = (words[i + 1] >>> 0) + (low >>> 0);
  words[i] += high + Math.floor(sum / TWO_TO_32);
  words[i + 1] = sum;
}

/** The high half of ROTR^n of the word (high, low), 0 < n < 64, n != 32; rotate(low, high, n) is its low half. */
function rotate(high: number, low: number, n: number): number {
  return n < 32 ? (high >>> n) | (low << (32 - n)) : (low >>> (n - 32)) | (high << (64 - n));
}

/** One half of ROTR^a ^ ROTR^b ^ ROTR^c (as for `rotate`), unsigned. */
function sigma(high: number, low: number, a: number, b: number, c: number): number {
  return (rotate(high, low, a) ^ rotate(high, low, b) ^ rotate(high, low, c)) >>> 0;
}

/**
 * Processes the 128-byte block at bytes[offset..]. `w` (the schedule W, 80 words) and `v` (the
 * working variables a-h) are scratch.
 */
function compress(hash: Int32Array, w: Int32Array, v: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 128; i++) w[i >> 2] = (w[i >> 2] << 8) | bytes[offset + i];
  for (let i = 32; i < 160; i += 2) {
    // W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16], sigma0 = ROTR^1 ^ ROTR^8 ^ SHR^7 and
    // sigma1 = ROTR^19 ^ ROTR^61 ^ SHR^6. A shift's low half is the rotation's; its high half lacks
    // the rotation's top bits (the low half shifted up), which the XOR takes out.
    const h2 = w[i - 4];
    const l2 = w[i - 3];
    const h15 = w[i - 30];
    const l15 = w[i - 29];
    const low = sigma(l2, h2, 19, 61, 6) + (w[i - 13] >>> 0) + sigma(l15, h15, 1, 8, 7) + (w[i - 31] >>> 0);
    w[i] =
      (sigma(h2, l2, 19, 61, 6) ^ (l2 << 26)) +
      w[i - 14] +
      (sigma(h15, l15, 1, 8, 7) ^ (l15 << 25)) +
      w[i - 32] +
      Math.floor(low / TWO_TO_32);
    w[i + 1] = low;
  }
  v.set(hash);
  for (let i = 0; i < 160; i += 2) {
    const ah = v[0],
      al = v[1],
      bh = v[2],
      bl = v[3],
      ch = v[4],
      cl = v[5];
    const eh = v[8],
      el = v[9],
      fh = v[10],
      fl = v[11],
      gh = v[12],
      gl = v[13];
    // T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t], Sigma1 = ROTR^14 ^ ROTR^18 ^ ROTR^41
    const t1Low =
      (v[15] >>> 0) +
      sigma(el, eh, 14, 18, 41) +
      (((el & fl) ^ (~el & gl)) >>> 0) +
      (ROUND_CONSTANTS[i + 1] >>> 0) +
      (w[i + 1] >>> 0);
    const t1High =
      v[14] +
      sigma(eh, el, 14, 18, 41) +
      ((eh & fh) ^ (~eh & gh)) +
      (ROUND_CONSTANTS[i] | 0) +
      w[i] +
      Math.floor(t1Low / TWO_TO_32);
    // T2 = Sigma0(a) + Maj(a, b, c), Sigma0 = ROTR^28 ^ ROTR^34 ^ ROTR^39
    const t2Low = sigma(al, ah, 28, 34, 39) + (((al & bl) ^ (al & cl) ^ (bl & cl)) >>> 0);
    const t2High = sigma(ah, al, 28, 34, 39) + ((ah & bh) ^ (ah & ch) ^ (bh & ch)) + Math.floor(t2Low / TWO_TO_32);
    v.copyWithin(2, 0, 14); // h = g, g = f, ..., b = a
    add64(v, 8, t1High, t1Low); // e = d + T1
    v[0] = t1High;
    v[1] = t1Low;
    add64(v, 0, t2High, t2Low); // a = T1 + T2
  }
  for (let i = 0; i < 16; i += 2) add64(hash, i, v[i], v[i + 1]);
}

/** The 64-byte SHA-512 digest of `bytes`. */
export function sha512(bytes: Uint8Array): Uint8Array {
  const hash = new Int32Array(16);
  const working = new Int32Array(16);
  const schedule = new Int32Array(160);
  hash.set(INITIAL_HASH);
  const length = bytes.length;
  const whole = length - (length % 128);
  for (let offset = 0; offset < whole; offset += 128) compress(hash, schedule, working, bytes, offset);
  // Padding (section 5.1.2): 0x80, zeros, then the length in bits as a 128-bit big-endian number.
  const tail = new Uint8Array(256);
  tail.set(bytes.subarray(whole));
  tail[length - whole] = 0x80;
  const tailLength = length - whole < 112 ? 128 : 256;
  storeBigEndian32(tail, tailLength - 8, Math.floor(length / 2 ** 29));
  storeBigEndian32(tail, tailLength - 4, length * 8);
  for (let offset = 0; offset < tailLength; offset += 128) compress(hash, schedule, working, tail, offset);
  const digest = new Uint8Array(64);
  for (let i = 0; i < 16; i++) storeBigEndian32(digest, 4 * i, hash[i]);
  return digest;
}
