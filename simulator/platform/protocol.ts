/**
 * The platform's side of docs/protocol.md's cryptography, written independently of sdk/ so each side
 * checks the other: client IDs, the commitment, the verification code and sealed tokens.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import nacl from "tweetnacl";
import { PlatformError } from "./errors";

export const DEVICE_ID_PATTERN = /^[0-9A-Za-z_.-]{4,90}$/;

/** The value, when it is a Device ID; else a 400 `invalid-device-id` that says what is. */
export function checkDeviceId(value: unknown, field = "Device ID"): string {
  if (typeof value !== "string" || !DEVICE_ID_PATTERN.test(value))
    throw new PlatformError(400, "invalid-device-id", `${field} must match ${DEVICE_ID_PATTERN.source}`);
  return value;
}
export const STREAM_PATTERN = /^[0-9A-Za-z_.-]{1,64}$/;
export const PROVISIONING_CLIENT_ID_PATTERN = /^p-[0-9a-f]{20}$/;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** Decodes strict unpadded base64url of exactly `length` bytes, or returns undefined. */
export function fromBase64url(text: unknown, length: number): Buffer | undefined {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64url");
  return bytes.length === length && bytes.toString("base64url") === text ? bytes : undefined;
}

function sha512(...parts: Uint8Array[]): Buffer {
  const hash = createHash("sha512");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

export function provisioningClientId(publicKey: Uint8Array): string {
  return "p-" + sha512(publicKey).toString("hex").slice(0, 20);
}

export function commitmentOf(publicKey: Uint8Array, deviceNonce: Uint8Array): Buffer {
  return sha512(Buffer.from("commitment/v1", "utf8"), publicKey, deviceNonce).subarray(0, 32);
}

export function commitmentMatches(commitment: Uint8Array, publicKey: Uint8Array, deviceNonce: Uint8Array): boolean {
  return commitment.length === 32 && timingSafeEqual(commitmentOf(publicKey, deviceNonce), commitment);
}

export function verificationCode(
  publicKey: Uint8Array,
  deviceNonce: Uint8Array,
  nonce: Uint8Array,
  operationId: string,
): string {
  const digest = sha512(
    Buffer.from("verification-code/v1", "utf8"),
    publicKey,
    deviceNonce,
    nonce,
    Buffer.from(operationId, "utf8"),
  );
  // 40 bits = 8 symbols of 5 bits, most significant first.
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(digest[i]);
  let code = "";
  for (let i = 7; i >= 0; i--) code += CROCKFORD[Number((bits >> BigInt(i * 5)) & 31n)];
  return code.slice(0, 4) + "-" + code.slice(4);
}

/** A verification code as a technician may type it: case-insensitive, dash optional. */
export function normalizeVerificationCode(text: string): string | undefined {
  const compact = text.toUpperCase().replace(/-/g, "");
  if (compact.length !== 8 || ![...compact].every((c) => CROCKFORD.includes(c))) return undefined;
  return compact.slice(0, 4) + "-" + compact.slice(4);
}

export interface SealedRegistration {
  sealed: string;
  nonce: string;
  serverPublicKey: string;
}

/** Seals a token to the device key with a fresh ephemeral server key pair (nacl.box). */
export function sealToken(token: string, devicePublicKey: Uint8Array): SealedRegistration {
  // From node:crypto, not nacl.box.keyPair(): tweetnacl's PRNG is process-wide and a simulated
  // device in the same process installs its own Random port as that PRNG.
  const server = nacl.box.keyPair.fromSecretKey(randomBytes(nacl.box.secretKeyLength));
  const nonce = randomBytes(nacl.box.nonceLength);
  const sealed = nacl.box(Buffer.from(token, "utf8"), nonce, devicePublicKey, server.secretKey);
  return { sealed: toBase64url(sealed), nonce: toBase64url(nonce), serverPublicKey: toBase64url(server.publicKey) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** `prefix` + base64url of `byteCount` random bytes: opaque IDs and tokens. */
export function randomId(prefix: string, byteCount: number): string {
  return prefix + randomBytes(byteCount).toString("base64url");
}

/** A deadline as docs/protocol.md's relative seconds (`expiresIn`), never negative. */
export function secondsUntil(deadlineMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((deadlineMs - nowMs) / 1000));
}
