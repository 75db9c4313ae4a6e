/**
 * Fake of the project's native module "provisio-entropy" (targets/moddable/native): fills the
 * bytes from the host's random source, or throws as the C does when that source fails.
 */
import { base64urlDecode } from "../../../sdk/crypto/base64url";
import { askHost } from "./host";

export function fill(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("provisio-entropy: fill takes bytes");
  const drawn = askHost<string | null>({ op: "entropy", count: bytes.length });
  if (drawn === null) throw new Error("getrandom failed");
  bytes.set(base64urlDecode(drawn)!);
}
