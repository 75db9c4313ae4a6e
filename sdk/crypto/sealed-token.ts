import { utf8Decode } from "../utf8";
import { base64urlDecode } from "./base64url";
import { openBox } from "./nacl/box";

/** The `registration` object of a reply: base64url fields as on the wire. */
export interface SealedRegistration {
  sealed: string;
  nonce: string;
  serverPublicKey: string;
}

/**
 * Opens the `registration` of a reply as it came off the wire (any JSON value): the token, or
 * undefined for anything that is not a well-formed registration sealed to this key (wrong key,
 * tampered, bad encoding; base64urlDecode refuses fields that are not strings).
 */
export function openRegistrationToken(registration: unknown, deviceSecretKey: Uint8Array): string | undefined {
  if (typeof registration !== "object" || registration === null) return undefined;
  const fields = registration as SealedRegistration;
  const sealed = base64urlDecode(fields.sealed);
  const nonce = base64urlDecode(fields.nonce);
  const serverPublicKey = base64urlDecode(fields.serverPublicKey);
  if (sealed === undefined || nonce === undefined || serverPublicKey === undefined) return undefined;
  const opened = openBox(sealed, nonce, serverPublicKey, deviceSecretKey);
  return opened === undefined ? undefined : utf8Decode(opened);
}
