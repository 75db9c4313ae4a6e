/**
 * Netstrings (`<decimal length>:<bytes>,`), the framing xsnap-worker reads on fd 3 and writes on
 * fd 4. Small enough to own rather than load @endo/netstring, which is ESM-only.
 */

const COLON = 0x3a;
const COMMA = 0x2c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Frames the concatenation of `parts` as one netstring. */
export function encodeNetstring(...parts: Uint8Array[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  return Buffer.concat([Buffer.from(`${length}:`), ...parts, Buffer.from(",")]);
}

/** Splits a byte stream into netstrings, whatever the chunking; holds at most one message. */
export class NetstringReader {
  readonly #maxLength: number;
  readonly #maxHeaderLength: number;
  #pending: Uint8Array = new Uint8Array(0);

  constructor(maxLength: number) {
    this.#maxLength = maxLength;
    this.#maxHeaderLength = String(maxLength).length + 1;
  }

  /** Calls `onMessage` for each complete netstring in order; throws on malformed framing. */
  push(chunk: Uint8Array, onMessage: (message: Uint8Array) => void): void {
    const data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let offset = 0;
    for (;;) {
      const colon = data.indexOf(COLON, offset);
      if (colon < 0) {
        if (data.length - offset >= this.#maxHeaderLength) throw new Error("netstring: length prefix too long");
        break;
      }
      const length = this.#parseLength(data, offset, colon);
      const end = colon + 1 + length;
      if (data.length <= end) break;
      if (data[end] !== COMMA) throw new Error("netstring: missing ',' after the message");
      onMessage(data.subarray(colon + 1, end));
      offset = end + 1;
    }
    this.#pending = data.slice(offset);
  }

  #parseLength(data: Uint8Array, start: number, colon: number): number {
    if (colon === start || colon - start >= this.#maxHeaderLength) throw new Error("netstring: bad length prefix");
    let length = 0;
    for (let i = start; i < colon; i++) {
      const c = data[i];
      if (c < DIGIT_0 || c > DIGIT_9) throw new Error("netstring: length prefix is not decimal");
      length = length * 10 + (c - DIGIT_0);
    }
    if (length > this.#maxLength) throw new Error(`netstring: message of ${length} bytes exceeds ${this.#maxLength}`);
    return length;
  }
}
