/** Base64url without padding (RFC 4648 section 5), the encoding of every binary value on the wire. */
import { codeUnitAt } from "../utf8";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

export function base64urlEncode(bytes: Uint8Array): string {
  let text = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const group = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    text += ALPHABET[group >> 18] + ALPHABET[(group >> 12) & 63] + ALPHABET[(group >> 6) & 63] + ALPHABET[group & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    text += ALPHABET[bytes[i] >> 2] + ALPHABET[(bytes[i] & 3) << 4];
  } else if (rest === 2) {
    const group = (bytes[i] << 8) | bytes[i + 1];
    text += ALPHABET[group >> 10] + ALPHABET[(group >> 4) & 63] + ALPHABET[(group & 15) << 2];
  }
  return text;
}

/** The 6-bit value of a base64url character code, or -1. Arithmetic rather than a table: less to keep in RAM. */
function sextet(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  if (code === 45) return 62; // -
  if (code === 95) return 63; // _
  return -1;
}

/**
 * Decodes strictly: besides foreign characters, padding and a length no encoder makes, it refuses
 * non-zero unused bits in the last character, so every byte string has exactly one accepted text.
 */
export function base64urlDecode(text: string): Uint8Array | undefined {
  // Wire values come from parsed JSON: a number or object where a string belongs is bad encoding too.
  if (typeof text !== "string" || text.length % 4 === 1) return undefined;
  const length = text.length;
  const bytes = new Uint8Array((length * 3) >> 2);
  let bits = 0;
  let bitCount = 0;
  let out = 0;
  for (let i = 0; i < length; i++) {
    const value = sextet(codeUnitAt(text, i));
    if (value < 0) return undefined;
    bits = ((bits << 6) | value) & 0xfff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      bytes[out++] = bits >> bitCount;
    }
  }
  if ((bits & ((1 << bitCount) - 1)) !== 0) return undefined;
  return bytes;
}
