/**
 * Opening NaCl's crypto_box (curve25519xsalsa20poly1305) in the layout of the JavaScript NaCl
 * ports the platform seals with: a 16-byte Poly1305 tag, then the XSalsa20 ciphertext.
 */
import { poly1305 } from "./poly1305";
import { hsalsa20, xsalsa20Xor } from "./salsa20";
import { x25519 } from "./x25519";

const TAG_LENGTH = 16;

/**
 * The message sealed by the holder of `theirPublicKey`'s secret key for `mySecretKey`, or
 * undefined when it does not open: wrong sizes, a bad tag, or an all-zero shared secret (a
 * low-order public key, RFC 7748 section 6.1). Never throws.
 */
export function openBox(
  sealed: Uint8Array,
  nonce: Uint8Array,
  theirPublicKey: Uint8Array,
  mySecretKey: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < TAG_LENGTH || nonce.length !== 24 || theirPublicKey.length !== 32 || mySecretKey.length !== 32)
    return undefined;
  const shared = x25519(mySecretKey, theirPublicKey);
  let any = 0;
  for (let i = 0; i < 32; i++) any |= shared[i];
  // The box key: HSalsa20 of the shared secret with an all-zero input.
  const key = new Uint8Array(32);
  hsalsa20(key, shared, new Uint8Array(16), 0);
  shared.fill(0);
  // Keystream bytes 0-31 are the Poly1305 key; the ciphertext starts at byte 32.
  const polyKey = new Uint8Array(32);
  xsalsa20Xor(polyKey, polyKey, key, nonce, 0);
  const ciphertext = sealed.subarray(TAG_LENGTH);
  const tag = poly1305(ciphertext, polyKey);
  polyKey.fill(0);
  let difference = 0;
  for (let i = 0; i < TAG_LENGTH; i++) difference |= tag[i] ^ sealed[i];
  if (any === 0 || difference !== 0) {
    key.fill(0);
    return undefined;
  }
  const message = new Uint8Array(ciphertext.length);
  xsalsa20Xor(message, ciphertext, key, nonce, 32);
  key.fill(0);
  return message;
}
