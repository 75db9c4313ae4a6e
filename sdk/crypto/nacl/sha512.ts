/**
 * SHA-512 (FIPS 180-4 sections 5.1.2, 6.4). A 64-bit word is two signed 32-bit halves, high and
 * low; a 64-bit sum adds the low halves as unsigned numbers (exact in a double) and carries
 * whatever passed 2^32 into the high half.
 */
import { codeUnitAt } from "../../utf8";

// Section 4.2.3: the 80 round constants, 16 hex digits each, in the order printed there.
const ROUND_CONSTANTS =
  "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc" +
  "3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118" +
  "d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2" +
  "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694" +
  "e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c65" +
  "2de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5" +
  "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4" +
  "c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e70" +
  "27b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df" +
  "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353b" +
  "a2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30" +
  "d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8" +
  "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8" +
  "391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3" +
  "748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec" +
  "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532b" +
  "ca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed178" +
  "06f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b" +
  "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c" +
  "4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817";
// Section 5.3.5: the initial hash value H(0).
const INITIAL_HASH =
  "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1" +
  "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179";

const TWO_TO_32 = 4294967296;

/** Fills `words` from lowercase hex, 8 digits a word (kept as text: it lives in flash, not in RAM). */
function fromHex(words: Int32Array, hex: string): void {
  for (let i = 0; i < words.length; i++) {
    let word = 0;
    for (let j = 8 * i; j < 8 * i + 8; j++) {
      const code = codeUnitAt(hex, j);
      word = (word << 4) | ((code & 15) + 9 * (code >> 6)); // "0"-"9" are 0x30-0x39, "a"-"f" 0x61-0x66
    }
    words[i] = word;
  }
}

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
function compress(hash: Int32Array, w: Int32Array, v: Int32Array, constants: Int32Array, bytes: Uint8Array, offset: number): void {
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
    w[i] = (sigma(h2, l2, 19, 61, 6) ^ (l2 << 26)) + w[i - 14] + (sigma(h15, l15, 1, 8, 7) ^ (l15 << 25)) + w[i - 32] + Math.floor(low / TWO_TO_32);
    w[i + 1] = low;
  }
  v.set(hash);
  for (let i = 0; i < 160; i += 2) {
    const ah = v[0], al = v[1], bh = v[2], bl = v[3], ch = v[4], cl = v[5];
    const eh = v[8], el = v[9], fh = v[10], fl = v[11], gh = v[12], gl = v[13];
    // T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t], Sigma1 = ROTR^14 ^ ROTR^18 ^ ROTR^41
    const t1Low = (v[15] >>> 0) + sigma(el, eh, 14, 18, 41) + (((el & fl) ^ (~el & gl)) >>> 0) + (constants[i + 1] >>> 0) + (w[i + 1] >>> 0);
    const t1High = v[14] + sigma(eh, el, 14, 18, 41) + ((eh & fh) ^ (~eh & gh)) + constants[i] + w[i] + Math.floor(t1Low / TWO_TO_32);
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
  const constants = new Int32Array(160);
  fromHex(hash, INITIAL_HASH);
  fromHex(constants, ROUND_CONSTANTS);
  const length = bytes.length;
  const whole = length - (length % 128);
  for (let offset = 0; offset < whole; offset += 128) compress(hash, schedule, working, constants, bytes, offset);
  // Padding (section 5.1.2): 0x80, zeros, then the length in bits as a 128-bit big-endian number.
  const tail = new Uint8Array(256);
  tail.set(bytes.subarray(whole));
  tail[length - whole] = 0x80;
  const tailLength = length - whole < 112 ? 128 : 256;
  storeBigEndian32(tail, tailLength - 8, Math.floor(length / 2 ** 29));
  storeBigEndian32(tail, tailLength - 4, length * 8);
  for (let offset = 0; offset < tailLength; offset += 128) compress(hash, schedule, working, constants, tail, offset);
  const digest = new Uint8Array(64);
  for (let i = 0; i < 16; i++) storeBigEndian32(digest, 4 * i, hash[i]);
  return digest;
}
