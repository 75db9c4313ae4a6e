/**
 * Known-answer vectors of the device's NaCl subset from the specifications themselves, run in Node
 * and inside XS: RFC 7748 (X25519), FIPS 180-4 examples (SHA-512), and the crypto_box example of
 * Bernstein's "Cryptography in NaCl" (section 10, Alice to Bob), opened by Bob.
 */
import { openBox } from "../../sdk/crypto/nacl/box";
import { sha512 } from "../../sdk/crypto/nacl/sha512";
import { x25519, x25519Base } from "../../sdk/crypto/nacl/x25519";
import { utf8Encode } from "../../sdk/utf8";
import { scenario } from "./harness";

/** Contiguous hex digits as bytes. */
function bytes(hexDigits: string): Uint8Array {
  const out = new Uint8Array(hexDigits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hexDigits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const alice = {
  secretKey: bytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
  publicKey: bytes("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
};
const bob = {
  secretKey: bytes("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
  publicKey: bytes("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
};

scenario("nacl: X25519 gives RFC 7748 section 5.2's outputs, and its first iteration", (check) => {
  const vectors = [
    [
      "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
      "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ],
    [
      "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
      "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
      "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ],
  ];
  for (const [scalar, u, expected] of vectors)
    check.deepEqual(x25519(bytes(scalar), bytes(u)), bytes(expected), scalar);
  const nine = bytes("09".padEnd(64, "0"));
  check.deepEqual(
    x25519(nine, nine),
    bytes("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
    "1 iteration",
  );
});

scenario("nacl: X25519 reproduces RFC 7748 section 6.1's key agreement between Alice and Bob", (check) => {
  const shared = bytes("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  check.deepEqual(x25519Base(alice.secretKey), alice.publicKey, "Alice's public key");
  check.deepEqual(x25519Base(bob.secretKey), bob.publicKey, "Bob's public key");
  check.deepEqual(x25519(alice.secretKey, bob.publicKey), shared, "Alice's shared secret");
  check.deepEqual(x25519(bob.secretKey, alice.publicKey), shared, "Bob's shared secret");
});

scenario("nacl: SHA-512 gives FIPS 180-4's example digests", (check) => {
  const vectors: [string, string][] = [
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
  ];
  for (const [message, digest] of vectors)
    check.deepEqual(sha512(utf8Encode(message)), bytes(digest), JSON.stringify(message));
});

scenario("nacl: Bob opens the crypto_box example of 'Cryptography in NaCl', and refuses it altered", (check) => {
  const nonce = bytes("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
  const message = bytes(
    "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31" +
      "0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705",
  );
  const sealed = bytes(
    "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972" +
      "71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3" +
      "7973f622a43d14a6599b1f654cb45a74e355a5",
  );
  check.deepEqual(openBox(sealed, nonce, alice.publicKey, bob.secretKey), message, "opened");
  for (const index of [0, 15, 16, sealed.length - 1]) {
    const altered = sealed.slice();
    altered[index] ^= 0x80;
    check.equal(openBox(altered, nonce, alice.publicKey, bob.secretKey), undefined, `byte ${index} altered`);
  }
  check.equal(openBox(sealed, nonce, bob.publicKey, bob.secretKey), undefined, "wrong sender key");
});
