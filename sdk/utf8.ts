/**
 * UTF-8 without TextEncoder/TextDecoder, which XS on the device only offers as modules. Decoding
 * is strict (Unicode table 3-7): bytes from the network that are not well-formed UTF-8 are
 * refused rather than repaired, as MQTT 3.1.1 requires of its strings.
 */

// Called with .call(string, i) below: taken off the prototype on purpose (see codeUnitAt).
// eslint-disable-next-line @typescript-eslint/unbound-method
const nativeCharCodeAt = String.prototype.charCodeAt;

/**
 * `text.charCodeAt(index)` without garbage: XS wraps a primitive string in a new String object (two
 * heap slots) for each method call on it, but not when the native function is called directly.
 */
export function codeUnitAt(text: string, index: number): number {
  return nativeCharCodeAt.call(text, index);
}

/**
 * The Unicode scalar value of one character from a string's iterator; a lone surrogate, which
 * UTF-8 cannot carry, reads as U+FFFD. Strings are walked with for-of, never by index: XS keeps
 * strings as UTF-8, so `text.codePointAt(i)` scans from the start and an indexed loop is quadratic.
 */
function scalarOf(character: string): number {
  const c = character.codePointAt(0)!;
  return c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
}

/**
 * One pass over the string into room for the worst case (three bytes a UTF-16 unit), then a copy
 * of what was written: on XS every character the string iterator yields is garbage, so a second
 * pass to measure first would double it.
 */
export function utf8Encode(text: string): Uint8Array {
  const bytes = new Uint8Array(3 * text.length);
  let offset = 0;
  for (const character of text) {
    const c = scalarOf(character);
    if (c < 0x80) {
      bytes[offset++] = c;
      continue;
    }
    if (c < 0x800) bytes[offset++] = 0xc0 | (c >> 6);
    else {
      if (c < 0x10000) bytes[offset++] = 0xe0 | (c >> 12);
      else {
        bytes[offset++] = 0xf0 | (c >> 18);
        bytes[offset++] = 0x80 | ((c >> 12) & 0x3f);
      }
      bytes[offset++] = 0x80 | ((c >> 6) & 0x3f);
    }
    bytes[offset++] = 0x80 | (c & 0x3f);
  }
  return bytes.slice(0, offset);
}

/** Decodes bytes[start, end); undefined when they are not well-formed UTF-8. */
export function utf8Decode(bytes: Uint8Array, start = 0, end = bytes.length): string | undefined {
  // UTF-16 code units are gathered in short runs, each made a string by one fromCharCode call:
  // XS strings are flat, so appending character by character would copy the string each time.
  let text = "";
  const units: number[] = [];
  let i = start;
  while (i < end) {
    let c = bytes[i++];
    if (c >= 0x80) {
      // 0xC0/0xC1 only start overlong forms, 0xF5 and above only code points past U+10FFFF.
      if (c < 0xc2 || c > 0xf4) return undefined;
      let continuations = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
      if (i + continuations > end) return undefined;
      const min = continuations === 1 ? 0x80 : continuations === 2 ? 0x800 : 0x10000;
      c &= 0x3f >> continuations;
      while (continuations--) {
        const next = bytes[i++];
        if ((next & 0xc0) !== 0x80) return undefined;
        c = (c << 6) | (next & 0x3f);
      }
      if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return undefined;
      if (c >= 0x10000) {
        c -= 0x10000;
        units.push(0xd800 | (c >> 10));
        c = 0xdc00 | (c & 0x3ff);
      }
    }
    units.push(c);
    if (units.length >= 256) {
      text += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return text + String.fromCharCode.apply(null, units);
}
