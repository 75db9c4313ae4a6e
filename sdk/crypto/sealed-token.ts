import { utf8Decode } from "../utf8";
import { base64urlDecode } from "./base64url";
import { openBox } from "./nacl/box";

/** The `registration` object of a reply: base64url fields as on the wire. */
export interface SealedRegistration {
  sealed: string;
  nonce: string;
  serverPublicKey: string;
}

/** Opens a sealed registration token; undefined when it does not open (wrong key, tampered, bad encoding). */
export function openRegistrationToken(
  registration: SealedRegistration,
  deviceSecretKey: Uint8Array,
): string | undefined {
  const sealed = base64urlDecode(registration.sealed);
  const nonce = base64urlDecode(registration.nonce);
  const serverPublicKey = base64urlDecode(registration.serverPublicKey);
  if (sealed === undefined || nonce === undefined || serverPublicKey === undefined) return undefined;
  const opened = openBox(sealed, nonce, serverPublicKey, deviceSecretKey);
  return opened === undefined ? undefined : utf8Decode(opened);
}

/**
 * Opens the `registration` field of a reply as it came off the wire (any JSON value); undefined for
 * anything that is not a well-formed registration sealed to this key. base64urlDecode refuses
 * fields that are not strings.
 */
export function openRegistrationReply(registration: unknown, deviceSecretKey: Uint8Array): string | undefined {
  if (typeof registration !== "object" || registration === null) return undefined;
  return openRegistrationToken(registration as SealedRegistration, deviceSecretKey);
}
