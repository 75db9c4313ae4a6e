/**
 * The device's NaCl subset (sdk/crypto/nacl) against the specifications' vectors and, on random
 * and edge inputs, against independent implementations: tweetnacl, node:crypto (OpenSSL), and
 * BigInt arithmetic written here from RFC 7748 / RFC 8439.
 */
import fc from "fast-check";
import { createHash } from "node:crypto";
import nacl from "tweetnacl";
import { openBox } from "../sdk/crypto/nacl/box";
import { poly1305 } from "../sdk/crypto/nacl/poly1305";
import { primeField } from "../sdk/crypto/nacl/prime-field";
import { hsalsa20, xsalsa20Xor } from "../sdk/crypto/nacl/salsa20";
import { sha512 } from "../sdk/crypto/nacl/sha512";
import { x25519, x25519Base } from "../sdk/crypto/nacl/x25519";

/** tweetnacl's low-level functions (present at run time, absent from its type declarations). */
const lowlevel = (
  nacl as unknown as {
    lowlevel: {
      crypto_onetimeauth(
        out: Uint8Array,
        outpos: number,
        m: Uint8Array,
        mpos: number,
        n: number,
        k: Uint8Array,
      ): number;
      crypto_core_hsalsa20(out: Uint8Array, inp: Uint8Array, k: Uint8Array, c: Uint8Array): number;
      crypto_stream_xor(
        c: Uint8Array,
        cpos: number,
        m: Uint8Array,
        mpos: number,
        d: number,
        n: Uint8Array,
        k: Uint8Array,
      ): number;
    };
  }
).lowlevel;

const hex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
const bytesOf = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
/** For tests doing hundreds of X25519 operations: well within a minute, but not jest's default 30 s on a loaded machine. */
const slow = 120_000;
/**
 * Random cases for properties that cost several X25519 operations each (tweetnacl's among them,
 * slow in jest's sandboxed realm): the edges are covered by the deterministic cases beside them.
 */
const scalarMultRuns = 64;
const P25519 = 2n ** 255n - 19n;
const P1305 = 2n ** 130n - 5n;

function littleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

function toLittleEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Number((value >> BigInt(8 * i)) & 255n);
  return out;
}

/** RFC 8439 section 2.5.1, with BigInt. */
function referencePoly1305(message: Uint8Array, key: Uint8Array): Uint8Array {
  const r = littleEndian(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = littleEndian(key.subarray(16, 32));
  let accumulator = 0n;
  for (let i = 0; i < message.length; i += 16) {
    const block = message.subarray(i, i + 16);
    accumulator = ((accumulator + littleEndian(block) + (1n << BigInt(8 * block.length))) * r) % P1305;
  }
  return toLittleEndian(accumulator + s, 16);
}

function tweetnaclPoly1305(message: Uint8Array, key: Uint8Array): Uint8Array {
  const tag = new Uint8Array(16);
  lowlevel.crypto_onetimeauth(tag, 0, message, 0, message.length, key);
  return tag;
}

/** 2 ** 255 - 19 + k as 32 little-endian bytes: u-coordinates at and beyond p. */
const aboveP = (k: bigint) => toLittleEndian(P25519 + k, 32);

describe("X25519 (RFC 7748)", () => {
  // Section 5.2's two vectors and 6.1's key agreement are in tests/scenarios/nacl.scenario.ts,
  // which runs them in Node and inside XS.
  test(
    "section 5.2: the iterated function after 1 and 1000 iterations",
    () => {
      let k: Uint8Array = hex("09".padEnd(64, "0"));
      let u = k;
      const after: Record<number, string> = {};
      for (let i = 1; i <= 1000; i++) {
        const result = x25519(k, u);
        u = k;
        k = result;
        if (i === 1 || i === 1000) after[i] = Buffer.from(k).toString("hex");
      }
      expect(after).toEqual({
        1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
        1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
      });
    },
    slow,
  );

  test(
    "equals tweetnacl on random scalars and u-coordinates, bit 255 included",
    () => {
      fc.assert(
        fc.property(bytesOf(32), bytesOf(32), (scalar, u) => {
          expect(x25519(scalar, u)).toEqual(nacl.scalarMult(scalar, u));
          expect(x25519Base(scalar)).toEqual(nacl.scalarMult.base(scalar));
        }),
        { numRuns: scalarMultRuns },
      );
    },
    slow,
  );

  test(
    "equals tweetnacl on non-canonical and extreme u-coordinates and scalars",
    () => {
      const edges = [
        new Uint8Array(32),
        new Uint8Array(32).fill(255),
        aboveP(-1n),
        aboveP(0n),
        aboveP(1n),
        aboveP(18n), // 2^255 - 1
        toLittleEndian(2n ** 255n + 9n, 32), // bit 255 set on the base point
        toLittleEndian(2n ** 254n, 32),
      ];
      fc.assert(
        fc.property(bytesOf(32), fc.constantFrom(...edges), fc.constantFrom(...edges), (random, u, scalar) => {
          expect(x25519(random, u)).toEqual(nacl.scalarMult(random, u));
          expect(x25519(scalar, u)).toEqual(nacl.scalarMult(scalar, u));
        }),
        { numRuns: scalarMultRuns },
      );
    },
    slow,
  );

  test("leaves the caller's scalar and u-coordinate as they were, Buffers included", () => {
    const scalar = Buffer.alloc(32, 0xff);
    const u = Buffer.alloc(32, 0xff);
    x25519(scalar, u);
    expect(scalar).toEqual(Buffer.alloc(32, 0xff));
    expect(u).toEqual(Buffer.alloc(32, 0xff));
  });
});

describe("the prime fields, against BigInt", () => {
  const shapes = [
    { name: "2^255 - 19", limbs: 15, bits: 17, fold: 19, p: P25519 },
    { name: "2^130 - 5", limbs: 10, bits: 13, fold: 5, p: P1305 },
  ];

  const value = (limbs: Float64Array, bits: number) =>
    Array.from(limbs).reduceRight((sum, limb) => (sum << BigInt(bits)) + BigInt(limb), 0n);
  const modulo = (a: bigint, p: bigint) => ((a % p) + p) % p;

  test.each(shapes)(
    "$name: multiply, square and scale agree mod p and keep their output bounds",
    ({ limbs, bits, fold, p }) => {
      const field = primeField(limbs, bits, fold);
      const bound = 2 ** (bits + 2) - 1;
      const limb = fc.oneof(fc.integer({ min: -bound, max: bound }), fc.constantFrom(-bound, bound, 0, 2 ** bits - 1));
      const number = fc.array(limb, { minLength: limbs, maxLength: limbs }).map((l) => Float64Array.from(l));
      fc.assert(
        fc.property(number, number, fc.integer({ min: 0, max: 2 ** 17 - 1 }), (a, b, k) => {
          const out = new Float64Array(limbs);
          const results: [() => void, bigint][] = [
            [() => field.multiply(out, a, b), value(a, bits) * value(b, bits)],
            [() => field.square(out, a), value(a, bits) ** 2n],
            [() => field.scale(out, a, k), value(a, bits) * BigInt(k)],
          ];
          for (const [operation, expected] of results) {
            operation();
            expect(modulo(value(out, bits), p)).toBe(modulo(expected, p));
            out.forEach((l, i) => {
              expect(Number.isInteger(l)).toBe(true);
              expect(Math.abs(l)).toBeLessThan(i === 1 ? 2 ** (bits + 1) : 2 ** bits);
              if (i !== 1) expect(l).toBeGreaterThanOrEqual(0);
            });
            const frozen = out.slice();
            field.freeze(frozen);
            expect(value(frozen, bits)).toBe(modulo(expected, p));
          }
        }),
        { numRuns: 500 },
      );
    },
  );

  test.each(shapes)(
    "$name: freeze gives the canonical value at the edges around p and 2^(limbs*bits)",
    ({ limbs, bits, fold, p }) => {
      const field = primeField(limbs, bits, fold);
      const fromValue = (v: bigint) => {
        const out = new Float64Array(limbs);
        for (let i = 0; i < limbs; i++) out[i] = Number((v >> BigInt(bits * i)) & ((1n << BigInt(bits)) - 1n));
        return out;
      };
      const top = 1n << BigInt(limbs * bits);
      for (const v of [0n, 1n, p - 1n, p, p + 1n, top - 1n, p + BigInt(fold) - 1n]) {
        const canonicalLimbs = fromValue(v);
        field.freeze(canonicalLimbs);
        expect(value(canonicalLimbs, bits)).toBe(v % p);
        // The same numbers with limb 1 at its extremes, as multiply may leave it.
        for (const shift of [2 ** bits, -(2 ** bits) + 1]) {
          const shifted = fromValue(v);
          shifted[1] += shift;
          shifted[0] -= shift * 2 ** bits;
          field.freeze(shifted);
          expect(value(shifted, bits)).toBe(v % p);
        }
      }
    },
  );
});

describe("SHA-512 (FIPS 180-4)", () => {
  test.each([
    [
      "abc",
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ],
    [
      "",
      "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    ],
    [
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    ],
  ])("the example %j", (message, digest) => {
    expect(Buffer.from(sha512(Buffer.from(message, "utf8"))).toString("hex")).toBe(digest);
  });

  test.each([111, 112, 127, 128, 239, 240, 1000])(
    "a %i-byte message, at a padding edge, equals node:crypto and tweetnacl",
    (length) => {
      const message = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
      const digest = sha512(message);
      expect(Buffer.from(digest)).toEqual(createHash("sha512").update(message).digest());
      expect(digest).toEqual(nacl.hash(message));
    },
  );

  test("equals node:crypto and tweetnacl on random messages of 0..600 bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (message) => {
        const digest = sha512(message);
        expect(Buffer.from(digest)).toEqual(createHash("sha512").update(message).digest());
        expect(digest).toEqual(nacl.hash(message));
      }),
      { numRuns: 300 },
    );
  });
});

describe("Salsa20 and Poly1305", () => {
  test("HSalsa20 and the XSalsa20 stream from any position equal tweetnacl's", () => {
    const sigma = Uint8Array.from("expand 32-byte k", (c) => c.charCodeAt(0));
    fc.assert(
      fc.property(
        bytesOf(32),
        bytesOf(24),
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 200 }),
        (key, nonce, input, position) => {
          const ours = new Uint8Array(32);
          hsalsa20(ours, key, nonce, 0);
          const theirs = new Uint8Array(32);
          lowlevel.crypto_core_hsalsa20(theirs, nonce, key, sigma);
          expect(ours).toEqual(theirs);
          const padded = new Uint8Array(position + input.length);
          padded.set(input, position);
          const expected = new Uint8Array(padded.length);
          lowlevel.crypto_stream_xor(expected, 0, padded, 0, padded.length, nonce, key);
          const out = new Uint8Array(input.length);
          xsalsa20Xor(out, input, key, nonce, position);
          expect(out).toEqual(expected.subarray(position));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("Poly1305 gives RFC 8439 section 2.5.2's tag", () => {
    const key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    const tag = poly1305(Buffer.from("Cryptographic Forum Research Group", "ascii"), key);
    expect(Buffer.from(tag).toString("hex")).toBe("a8061dc1305136c6c22b8baf0c0127a9");
  });

  test("Poly1305 equals the RFC 8439 algorithm in BigInt and tweetnacl, on random and extreme keys and messages", () => {
    const key = fc.oneof(bytesOf(32), fc.constant(new Uint8Array(32).fill(255)), fc.constant(new Uint8Array(32)));
    const message = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.integer({ min: 0, max: 100 }).map((length) => new Uint8Array(length).fill(255)),
    );
    fc.assert(
      fc.property(message, key, (m, k) => {
        const tag = poly1305(m, k);
        expect(tag).toEqual(referencePoly1305(m, k));
        expect(tag).toEqual(tweetnaclPoly1305(m, k));
      }),
      { numRuns: 500 },
    );
  });
});

describe("openBox (crypto_box_open)", () => {
  const device = nacl.box.keyPair.fromSecretKey(hex("a1".repeat(32)));
  const server = nacl.box.keyPair.fromSecretKey(hex("b2".repeat(32)));
  const nonce = hex("c3".repeat(24));
  const open = (sealed: Uint8Array, n = nonce, sender = server.publicKey, receiver = device.secretKey) =>
    openBox(sealed, n, sender, receiver);

  test(
    "opens nacl.box output of every length 0..200, across the 16- and 64-byte block edges",
    () => {
      // nacl.box = box.after with box.before's shared key: one scalar multiplication for all of them.
      const shared = nacl.box.before(device.publicKey, server.secretKey);
      for (let length = 0; length <= 200; length++) {
        const message = Uint8Array.from({ length }, (_, i) => (i * 29 + length) & 255);
        const sealed = nacl.box.after(message, nonce, shared);
        expect(open(sealed)).toEqual(message);
      }
    },
    slow,
  );

  test(
    "opens what tweetnacl opens for random keys, nonces and messages of 0..600 bytes",
    () => {
      fc.assert(
        fc.property(bytesOf(32), bytesOf(32), bytesOf(24), fc.uint8Array({ maxLength: 600 }), (a, b, n, message) => {
          const sender = nacl.box.keyPair.fromSecretKey(a);
          const receiver = nacl.box.keyPair.fromSecretKey(b);
          const sealed = nacl.box(message, n, receiver.publicKey, sender.secretKey);
          expect(openBox(sealed, n, sender.publicKey, receiver.secretKey)).toEqual(message);
          expect(nacl.box.open(sealed, n, sender.publicKey, receiver.secretKey)).toEqual(message);
        }),
        { numRuns: scalarMultRuns },
      );
    },
    slow,
  );

  test(
    "refuses every single-bit change of the tag, the ciphertext and the nonce",
    () => {
      const sealed = nacl.box(
        Uint8Array.from({ length: 40 }, (_, i) => i),
        nonce,
        device.publicKey,
        server.secretKey,
      );
      let refused = 0;
      for (let bit = 0; bit < 8 * sealed.length; bit++) {
        const altered = sealed.slice();
        altered[bit >> 3] ^= 1 << (bit & 7);
        if (open(altered) === undefined) refused++;
      }
      for (let bit = 0; bit < 8 * nonce.length; bit++) {
        const altered = nonce.slice();
        altered[bit >> 3] ^= 1 << (bit & 7);
        if (open(sealed, altered) === undefined) refused++;
      }
      expect(refused).toBe(8 * (sealed.length + nonce.length));
      expect(open(sealed)).toBeDefined();
    },
    slow,
  );

  test("refuses the wrong sender key or receiver key, and leaves the inputs as they were", () => {
    const sealed = nacl.box(Uint8Array.of(1, 2, 3), nonce, device.publicKey, server.secretKey);
    const before = Buffer.from(sealed);
    const stranger = nacl.box.keyPair.fromSecretKey(hex("d4".repeat(32)));
    expect(open(sealed, nonce, stranger.publicKey)).toBeUndefined();
    expect(open(sealed, nonce, server.publicKey, stranger.secretKey)).toBeUndefined();
    expect(open(sealed, nonce, device.publicKey)).toBeUndefined();
    expect(Buffer.from(sealed)).toEqual(before);
    expect(open(sealed)).toEqual(Uint8Array.of(1, 2, 3));
  });

  test("refuses wrong sizes without throwing", () => {
    const sealed = nacl.box(Uint8Array.of(1, 2, 3), nonce, device.publicKey, server.secretKey);
    for (let length = 0; length < 16; length++) expect(open(sealed.subarray(0, length))).toBeUndefined();
    for (const n of [nonce.subarray(0, 23), new Uint8Array(25), new Uint8Array(0)])
      expect(open(sealed, n)).toBeUndefined();
    for (const key of [server.publicKey.subarray(0, 31), new Uint8Array(33)])
      expect(open(sealed, nonce, key)).toBeUndefined();
    for (const key of [device.secretKey.subarray(0, 31), new Uint8Array(33)])
      expect(open(sealed, nonce, server.publicKey, key)).toBeUndefined();
    // The empty message: only the tag.
    expect(open(nacl.box(new Uint8Array(0), nonce, device.publicKey, server.secretKey))).toEqual(new Uint8Array(0));
  });

  test("refuses a box under a low-order public key (all-zero shared secret) that tweetnacl opens", () => {
    // u-coordinates of the points of order 1, 2, 4 and 8 (Bernstein's list), plain and with bit 255 set.
    const lowOrder = [
      0n,
      1n,
      325606250916557431795983626356110631294008115727848805560023387167927233504n,
      39382357235489614581723060781553021112529911719440698176882885853963445705823n,
      P25519 - 1n,
      P25519,
      P25519 + 1n,
    ].flatMap((u) => [toLittleEndian(u, 32), toLittleEndian(u + 2n ** 255n, 32)]);
    const message = Uint8Array.of(7, 7, 7);
    for (const publicKey of lowOrder) {
      expect(x25519(device.secretKey, publicKey)).toEqual(new Uint8Array(32));
      expect(nacl.scalarMult(device.secretKey, publicKey)).toEqual(new Uint8Array(32));
      const key = nacl.box.before(publicKey, device.secretKey);
      const sealed = nacl.secretbox(message, nonce, key);
      expect(nacl.box.open(sealed, nonce, publicKey, device.secretKey)).toEqual(message);
      expect(open(sealed, nonce, publicKey)).toBeUndefined();
    }
  });
});
