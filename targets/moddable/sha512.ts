/**
 * SHA-512 by Moddable's `crypt` Digest, in C. The TLS stack links it on every device (manifest.json
 * includes tls.json), so the device build takes this module in place of the core's JavaScript
 * SHA-512 (sdk/crypto/nacl/sha512.ts, about 4 KB of XS bytecode): scripts/build-moddable.ts.
 */
import { Digest } from "crypt";

export function sha512(message: Uint8Array): Uint8Array {
  return new Uint8Array(new Digest("SHA512").process(message));
}
