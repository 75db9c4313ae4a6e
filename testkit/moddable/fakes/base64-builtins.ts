/**
 * XS 8's Uint8Array.fromBase64 and Uint8Array.prototype.toBase64 (ECMAScript 2026; Moddable's
 * xs/sources/xsDataView.c), which the XS of @agoric/xsnap predates: installed where missing, before
 * the rig freezes the built-ins. As the C decodes: ASCII whitespace skipped anywhere, "=" padding
 * ends the text, a partial last chunk of two or three characters decodes in "loose" (its unused
 * bits dropped) and is a SyntaxError in "strict", which also refuses non-zero unused bits in a
 * padded last chunk. "stop-before-partial" and `fromBase64`'s other inputs, which the device build
 * does not use, are refused rather than imitated.
 */
type Alphabet = "base64" | "base64url";

const characters = (alphabet: Alphabet): string =>
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + (alphabet === "base64url" ? "-_" : "+/");

function alphabetOf(options: { alphabet?: Alphabet }): Alphabet {
  const alphabet = options.alphabet ?? "base64";
  if (alphabet !== "base64" && alphabet !== "base64url")
    throw new TypeError("options.alphabet: neither 'base64' nor 'base64url'");
  return alphabet;
}

function fromBase64(
  text: string,
  options: { alphabet?: Alphabet; lastChunkHandling?: "loose" | "strict" } = {},
): Uint8Array {
  if (typeof text !== "string") throw new TypeError("string: not a string");
  const digits = characters(alphabetOf(options));
  const strict = (options.lastChunkHandling ?? "loose") === "strict";
  if (!strict && options.lastChunkHandling !== undefined && options.lastChunkHandling !== "loose")
    throw new TypeError("options.lastChunkHandling: not in this fake");
  const bytes: number[] = [];
  let chunk: number[] = [];
  let i = 0;
  const skipWhitespace = (): void => {
    while (i < text.length && "\t\n\f\r ".includes(text[i])) i++;
  };
  const invalid = (): SyntaxError => new SyntaxError("invalid string");
  /** The bytes of one chunk of 2 to 4 sextets; `checkBits`: the unused bits of a short one must be zero. */
  const emit = (checkBits: boolean): void => {
    const [a, b, c = 0, d = 0] = chunk;
    const three = [(a << 2) | (b >> 4), ((b & 15) << 4) | (c >> 2), ((c & 3) << 6) | d];
    const count = chunk.length - 1;
    if (checkBits && count < 3 && three[count] !== 0) throw invalid();
    bytes.push(...three.slice(0, count));
    chunk = [];
  };
  for (;;) {
    skipWhitespace();
    if (i === text.length) {
      if (chunk.length === 0) break;
      if (strict || chunk.length === 1) throw invalid();
      emit(false);
      break;
    }
    if (text[i] === "=") {
      if (chunk.length < 2) throw invalid();
      i++;
      skipWhitespace();
      if (chunk.length === 2) {
        if (i === text.length) throw invalid();
        if (text[i] === "=") {
          i++;
          skipWhitespace();
        }
      }
      if (i !== text.length) throw invalid();
      emit(strict);
      break;
    }
    const value = digits.indexOf(text[i]);
    if (value < 0) throw invalid();
    chunk.push(value);
    i++;
    if (chunk.length === 4) emit(false);
  }
  return new Uint8Array(bytes);
}

function toBase64(this: Uint8Array, options: { alphabet?: Alphabet; omitPadding?: boolean } = {}): string {
  const digits = characters(alphabetOf(options));
  let text = "";
  for (let i = 0; i < this.length; i += 3) {
    const group = (this[i] << 16) | ((this[i + 1] ?? 0) << 8) | (this[i + 2] ?? 0);
    const count = Math.min(this.length - i, 3) + 1;
    for (let k = 0; k < 4; k++)
      text += k < count ? digits[(group >> (18 - 6 * k)) & 63] : options.omitPadding ? "" : "=";
  }
  return text;
}

const constructor = Uint8Array as unknown as { fromBase64?: typeof fromBase64 };
if (!constructor.fromBase64)
  Object.defineProperty(Uint8Array, "fromBase64", { value: fromBase64, writable: true, configurable: true });
if (!("toBase64" in Uint8Array.prototype))
  Object.defineProperty(Uint8Array.prototype, "toBase64", { value: toBase64, writable: true, configurable: true });
