/**
 * Bounded JSON for control payloads (docs/protocol.md "Transport": UTF-8 JSON objects of at most 4096
 * bytes). Untrusted input is parsed with a key list: XS then keeps only those property names,
 * which are never freed once made; Node ignores a non-function reviver, so the call is portable.
 */
import { utf8Decode, utf8Encode } from "./utf8";

export const maxControlPayloadBytes = 4096;

/**
 * The fields the device reads in the platform's replies (docs/protocol.md 1 and 2b), provisioning
 * and token replies alike: the key list they are parsed with.
 */
export const replyKeys: readonly string[] = Object.freeze([
  "rid",
  "status",
  "error",
  "message",
  "retryAfter",
  "operationId",
  "nonce",
  "expiresIn",
  "graceIn",
  "pollInterval",
  "verificationCode",
  "workspaceId",
  "deviceId",
  "registration",
  "sealed",
  "serverPublicKey",
]);

export type JsonObject = Record<string, unknown>;

/** The JSON object in `bytes`, or undefined when oversized, not UTF-8, not JSON or not an object. */
export function parseJsonObject(
  bytes: Uint8Array,
  keys: readonly string[],
  maxBytes = maxControlPayloadBytes,
): JsonObject | undefined {
  if (bytes.length > maxBytes) return undefined;
  const text = utf8Decode(bytes);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = (JSON.parse as (text: string, keys: unknown) => unknown)(text, keys.slice());
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

export function encodeJson(value: JsonObject): Uint8Array {
  return utf8Encode(JSON.stringify(value));
}

/** A string of 1..maxLength characters, else undefined. */
export function stringField(object: JsonObject, key: string, maxLength: number): string | undefined {
  const value = object[key];
  return typeof value === "string" && value.length > 0 && value.length <= maxLength ? value : undefined;
}

/** A finite number within [min, max], else undefined. */
export function numberField(object: JsonObject, key: string, min: number, max: number): number | undefined {
  const value = object[key];
  return typeof value === "number" && value >= min && value <= max ? value : undefined;
}

/** Request ids (`rid`, at most 32 characters): "1", "2", … "999999999", then "1" again. */
export class RequestIds {
  private _last = 0;

  next(): string {
    this._last = (this._last % 999999999) + 1;
    return String(this._last);
  }
}
