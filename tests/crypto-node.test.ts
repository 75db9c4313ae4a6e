/**
 * sdk/crypto checked against independent implementations: node:crypto for SHA-512 and X25519,
 * Buffer for base64url, and the protocol's digests recomputed here from docs/protocol.md. Also key
 * generation from the Random port inside the real XS engine, where no other random source exists.
 */
import { build } from "esbuild";
import fc from "fast-check";
import { createHash, createPrivateKey, createPublicKey, randomFillSync } from "node:crypto";
import { resolve } from "node:path";
import nacl from "tweetnacl";
import {
  base64urlDecode,
  base64urlEncode,
  commitment,
  generateDeviceKeyPair,
  openRegistrationToken,
  provisioningClientId,
  sha512,
  verificationCode,
} from "../sdk/crypto/index";
import { XsWorker } from "../simulator/xs-engine/worker";

const nodeRandom = { fill: (bytes: Uint8Array) => void randomFillSync(bytes) };
const bytesOf = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
/** Any text, lone surrogates included (both sides must write them as U+FFFD). */
const anyText = fc.string({
  unit: fc.oneof(fc.constantFrom("\ud800", "\udfff"), fc.string({ unit: "binary", minLength: 1, maxLength: 1 })),
  maxLength: 40,
});

function nodeSha512(...parts: (Uint8Array | string)[]): Buffer {
  const hash = createHash("sha512");
  for (const part of parts) hash.update(typeof part === "string" ? Buffer.from(part, "utf8") : part);
  return hash.digest();
}

/** docs/protocol.md 1b, written independently: 40 bits as a BigInt, 5 bits per Crockford symbol. */
function expectedCode(publicKey: Uint8Array, deviceNonce: Uint8Array, nonce: Uint8Array, operationId: string): string {
  const digest = nodeSha512("verification-code/v1", publicKey, deviceNonce, nonce, operationId);
  const bits = BigInt("0x" + digest.subarray(0, 5).toString("hex"));
  let symbols = "";
  for (let shift = 35n; shift >= 0n; shift -= 5n)
    symbols += "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[Number((bits >> shift) & 31n)];
  return `${symbols.slice(0, 4)}-${symbols.slice(4)}`;
}

/** The X25519 public key of a raw secret key, by node:crypto (OpenSSL) through a PKCS#8 wrapper. */
function nodeX25519PublicKey(secretKey: Uint8Array): Buffer {
  const pkcs8Prefix = Buffer.from("302e020100300506032b656e04220420", "hex");
  const privateKey = createPrivateKey({ key: Buffer.concat([pkcs8Prefix, secretKey]), format: "der", type: "pkcs8" });
  return createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
}

describe("key generation inside XS", () => {
  test("XS has no random source of its own; a key pair comes from the Random port given", async () => {
    const bundle = await build({
      stdin: { contents: 'export * from "./sdk/crypto/index";', resolveDir: resolve(__dirname, ".."), loader: "ts" },
      bundle: true,
      write: false,
      format: "iife",
      globalName: "cryptoUnderTest",
      platform: "browser",
      target: "es2022",
      logLevel: "silent",
    });
    const xs = new XsWorker({ name: "crypto-node-test" });
    xs.start();
    try {
      await xs.evaluate(bundle.outputFiles[0].text);
      const outcome = async (expression: string) => {
        const script = `(() => { let text; try { text = String(${expression}); } catch (e) { text = "threw " + e.message; }
          return new TextEncoder().encode(text).buffer; })()`;
        return Buffer.from((await xs.evaluate(script)).reply).toString("utf8");
      };
      expect(await outcome("typeof crypto + typeof self + typeof require")).toBe("undefinedundefinedundefined");
      const secretKey = Buffer.alloc(32, 0x5a);
      const made = await outcome(
        "cryptoUnderTest.base64urlEncode(cryptoUnderTest.generateDeviceKeyPair({ fill(bytes) { bytes.fill(0x5a); } }).publicKey)",
      );
      expect(made).toBe(nodeX25519PublicKey(secretKey).toString("base64url"));
    } finally {
      await xs.close();
    }
  });
});

describe("against node:crypto and Buffer", () => {
  test("sha512 equals node:crypto's SHA-512", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        expect(Buffer.from(sha512(bytes))).toEqual(nodeSha512(bytes));
      }),
    );
  });

  test("base64urlEncode equals Buffer's base64url, and decoding gives the bytes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = base64urlEncode(bytes);
        expect(text).toBe(Buffer.from(bytes).toString("base64url"));
        expect(base64urlDecode(text)).toEqual(bytes);
      }),
    );
  });

  test("base64urlDecode accepts exactly the texts Buffer would encode, with Buffer's bytes", () => {
    const characters = [..."ABCXYZabcxyz0189-_", "=", "+", "/", " ", "\n", ".", "é", "\u0000"];
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...characters), maxLength: 24 }), (text) => {
        const canonical =
          /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, "base64url").toString("base64url") === text;
        const decoded = base64urlDecode(text);
        if (canonical) expect(Buffer.from(decoded!)).toEqual(Buffer.from(text, "base64url"));
        else expect(decoded).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  test("client id, commitment and verification code equal docs/protocol.md recomputed with node:crypto", () => {
    fc.assert(
      fc.property(bytesOf(32), bytesOf(16), bytesOf(16), anyText, (publicKey, deviceNonce, nonce, operationId) => {
        expect(provisioningClientId(publicKey)).toBe("p-" + nodeSha512(publicKey).toString("hex").slice(0, 20));
        expect(Buffer.from(commitment(publicKey, deviceNonce))).toEqual(
          nodeSha512("commitment/v1", publicKey, deviceNonce).subarray(0, 32),
        );
        expect(verificationCode(publicKey, deviceNonce, nonce, operationId)).toBe(
          expectedCode(publicKey, deviceNonce, nonce, operationId),
        );
      }),
      { numRuns: 300 },
    );
  });

  test("a generated key pair is X25519 as node:crypto computes it, and keys differ", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const pair = generateDeviceKeyPair(nodeRandom);
      expect(pair.secretKey).toHaveLength(32);
      expect(Buffer.from(pair.publicKey)).toEqual(nodeX25519PublicKey(pair.secretKey));
      seen.add(base64urlEncode(pair.secretKey));
    }
    expect(seen.size).toBe(20);
  });

  test("a token sealed the way the platform seals it opens to the same text, under that key only", () => {
    const device = generateDeviceKeyPair(nodeRandom);
    const stranger = generateDeviceKeyPair(nodeRandom);
    fc.assert(
      fc.property(anyText, bytesOf(24), (token, nonce) => {
        const server = nacl.box.keyPair();
        const registration = {
          sealed: base64urlEncode(nacl.box(Buffer.from(token, "utf8"), nonce, device.publicKey, server.secretKey)),
          nonce: base64urlEncode(nonce),
          serverPublicKey: base64urlEncode(server.publicKey),
        };
        expect(openRegistrationToken(registration, device.secretKey)).toBe(Buffer.from(token, "utf8").toString("utf8"));
        expect(openRegistrationToken(registration, stranger.secretKey)).toBeUndefined();
      }),
      { numRuns: 25 },
    );
  });

  test("a sealed text that is not UTF-8 does not open", () => {
    const device = generateDeviceKeyPair(nodeRandom);
    const server = nacl.box.keyPair();
    const nonce = nacl.randomBytes(24);
    const sealed = nacl.box(Uint8Array.of(0x72, 0x74, 0xff, 0x5f), nonce, device.publicKey, server.secretKey);
    const registration = {
      sealed: base64urlEncode(sealed),
      nonce: base64urlEncode(nonce),
      serverPublicKey: base64urlEncode(server.publicKey),
    };
    expect(openRegistrationToken(registration, device.secretKey)).toBeUndefined();
  });
});
