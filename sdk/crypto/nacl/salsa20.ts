/**
 * Salsa20/20 with a 32-byte key (Bernstein, "Salsa20 specification"), HSalsa20 and the XSalsa20
 * stream (Bernstein, "Extending the Salsa20 nonce"). Words are little-endian 32-bit integers.
 */

function load32(bytes: Uint8Array, offset: number): number {
  return bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24);
}

function store32(bytes: Uint8Array, offset: number, word: number): void {
  bytes[offset] = word;
  bytes[offset + 1] = word >>> 8;
  bytes[offset + 2] = word >>> 16;
  bytes[offset + 3] = word >>> 24;
}

/** The constant "expand 32-byte k" in words 0, 5, 10, 15 and the key in words 1-4 and 11-14; words 6-9 are the caller's. */
function setKey(state: Int32Array, key: Uint8Array): void {
  state[0] = 0x61707865;
  state[5] = 0x3320646e;
  state[10] = 0x79622d32;
  state[15] = 0x6b206574;
  for (let i = 0; i < 4; i++) {
    state[1 + i] = load32(key, 4 * i);
    state[11 + i] = load32(key, 16 + 4 * i);
  }
}

function rotate(word: number, count: number): number {
  return (word << count) | (word >>> (32 - count));
}

function quarterRound(x: Int32Array, a: number, b: number, c: number, d: number): void {
  x[b] ^= rotate(x[a] + x[d], 7);
  x[c] ^= rotate(x[b] + x[a], 9);
  x[d] ^= rotate(x[c] + x[b], 13);
  x[a] ^= rotate(x[d] + x[c], 18);
}

/** x = ten double rounds of `state`: each a column round, then a row round, as the specification lists them. */
function doubleRounds(x: Int32Array, state: Int32Array): void {
  x.set(state);
  for (let round = 0; round < 10; round++) {
    // Column j starts on the diagonal (word 5j) and goes down its column; row j starts there and goes right.
    for (let j = 0; j < 4; j++) quarterRound(x, 5 * j, (5 * j + 4) & 15, (5 * j + 8) & 15, (5 * j + 12) & 15);
    for (let j = 0; j < 4; j++)
      quarterRound(x, 5 * j, 4 * j + ((j + 1) & 3), 4 * j + ((j + 2) & 3), 4 * j + ((j + 3) & 3));
  }
}

/** HSalsa20: 32 bytes into `out` from a 32-byte key and input[offset..offset + 16). */
export function hsalsa20(out: Uint8Array, key: Uint8Array, input: Uint8Array, offset: number): void {
  const state = new Int32Array(16);
  const x = new Int32Array(16);
  setKey(state, key);
  for (let i = 0; i < 4; i++) state[6 + i] = load32(input, offset + 4 * i);
  doubleRounds(x, state);
  // Words 0, 5, 10, 15 then 6-9, without Salsa20's final addition of the input.
  for (let i = 0; i < 4; i++) {
    store32(out, 4 * i, x[5 * i]);
    store32(out, 16 + 4 * i, x[6 + i]);
  }
  state.fill(0);
  x.fill(0);
}

/**
 * XSalsa20 with a 32-byte key and 24-byte nonce: out[i] = input[i] ^ keystream[position + i] for
 * every i < out.length (out may be input). The subkey is HSalsa20(key, nonce[0..16)); the Salsa20
 * nonce is nonce[16..24) and the block counter starts at 0.
 */
export function xsalsa20Xor(
  out: Uint8Array,
  input: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  position: number,
): void {
  const subkey = new Uint8Array(32);
  hsalsa20(subkey, key, nonce, 0);
  const state = new Int32Array(16);
  const block = new Int32Array(16);
  setKey(state, subkey);
  subkey.fill(0);
  state[6] = load32(nonce, 16);
  state[7] = load32(nonce, 20);
  for (let i = 0; i < out.length; i++) {
    const at = position + i;
    if (i === 0 || (at & 63) === 0) {
      state[8] = Math.floor(at / 64); // the 64-bit block counter: its high word stays 0 below 256 GiB
      doubleRounds(block, state);
      for (let j = 0; j < 16; j++) block[j] += state[j];
    }
    out[i] = input[i] ^ (block[(at & 63) >>> 2] >>> (8 * (at & 3)));
  }
  state.fill(0);
  block.fill(0);
}
