/**
 * Fake of Moddable's `crypt` Digest (modules/crypt/digest/crypt.js and modCrypt.c), SHA-512 only,
 * by tweetnacl's nacl.hash: the type by its exact name, and data as the C takes it, a string (as
 * UTF-8, up to its first NUL: the C reads a C string) or an ArrayBuffer or a view of one.
 */
import nacl from "tweetnacl";

type DigestData = string | ArrayBuffer | ArrayBufferView;

function bytesOf(data: DigestData): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data.split("\0")[0]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  throw new TypeError("crypt: buffer required");
}

export class Digest {
  #written: Uint8Array[] = [];

  constructor(type: string) {
    if (type !== "SHA512") throw new Error(`crypt: unsupported digest (this fake has SHA512 only): ${type}`);
  }

  write(data: DigestData): void {
    this.#written.push(bytesOf(data));
  }

  close(): ArrayBuffer {
    const joined = new Uint8Array(this.#written.reduce((length, part) => length + part.length, 0));
    let offset = 0;
    for (const part of this.#written) {
      joined.set(part, offset);
      offset += part.length;
    }
    return nacl.hash(joined).buffer as ArrayBuffer;
  }

  reset(): void {
    this.#written = [];
  }

  process(...data: DigestData[]): ArrayBuffer {
    this.reset();
    for (const item of data) this.write(item);
    return this.close();
  }
}
