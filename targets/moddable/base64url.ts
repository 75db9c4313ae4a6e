/**
 * Base64url by XS's own Uint8Array.toBase64 and Uint8Array.fromBase64 (ECMAScript 2026, C in the
 * engine: xs/sources/xsDataView.c), in place of the core's sdk/crypto/base64url.ts in the device
 * build (scripts/build-moddable.ts): about 400 bytes of bytecode less. As strict as the core's:
 * padded here, "strict" refuses non-zero unused bits in the last character and a lone last
 * character; fromBase64 skips whitespace and takes "=" padding, which the length check refuses.
 */

export function base64urlEncode(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

export function base64urlDecode(text: string): Uint8Array | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const bytes = Uint8Array.fromBase64(text + "===".slice(0, -text.length & 3), {
      alphabet: "base64url",
      lastChunkHandling: "strict",
    });
    // Whitespace or "=" in the text leaves fewer bytes than its length makes: refused. (A regular
    // expression over the text would say so too, but XS's takes stack for each character.)
    return bytes.length === (text.length * 3) >> 2 ? bytes : undefined;
  } catch {
    return undefined;
  }
}
