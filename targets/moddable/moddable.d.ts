/**
 * What @moddable/typings 5.6 lacks for these adapters: securesocket's `callback` and its
 * free-space `write()` (it mirrors `socket`'s), and the typed `secure` options.
 */
declare module "securesocket" {
  interface SecureSocketOptions {
    host: string;
    port: number;
    secure: {
      /** The CA certificate, DER. */
      certificate: ArrayBuffer | HostBuffer;
      /** 0x303 = TLS 1.2, the highest securesocket speaks. */
      protocolVersion?: number;
      /** Sent as SNI and matched against the server certificate's subjectAltName. Default: `host`. */
      serverName?: string;
    };
  }
  export default interface SecureSocket {
    callback: (message: -2 | -1 | 1 | 2 | 3, value?: number) => void;
    write(): number;
  }
}

/** The project's native module (native/provisio-entropy.js and .c): the host's random bytes. */
declare module "provisio-entropy" {
  /** Fills the bytes with the host's random source; throws when it fails. */
  export function fill(bytes: Uint8Array): void;
}

/** Moddable's modules/crypt/digest (crypt.js, modCrypt.c): the part the device build uses. */
declare module "crypt" {
  export class Digest {
    /** "MD5", "SHA1", "SHA224", "SHA256", "SHA384" or "SHA512"; throws for another name. */
    constructor(type: string);
    /** Resets, writes each argument (a string, an ArrayBuffer or a view), returns the digest. */
    process(...data: (string | ArrayBuffer | ArrayBufferView)[]): ArrayBuffer;
  }
}

/** ECMAScript 2026's base64 of Uint8Array, which XS has (xs/sources/xsDataView.c) and TypeScript's ES2022 lib lacks. */
interface Uint8Array {
  toBase64(options?: { alphabet?: "base64" | "base64url"; omitPadding?: boolean }): string;
}
interface Uint8ArrayConstructor {
  fromBase64(
    text: string,
    options?: { alphabet?: "base64" | "base64url"; lastChunkHandling?: "loose" | "strict" | "stop-before-partial" },
  ): Uint8Array;
}
