/**
 * Fake of Moddable's `flash`: a named partition of NOR flash in the XS heap. Erase sets a 4096-byte
 * block to 0xFF; a write can only clear bits (new = old AND written); reads return a copy.
 */
export const blockSize = 4096;
const partitions = new Map<string, Uint8Array>();

/** Partitions the tests make available, as the ESP32 partition table would: name to size. */
export function definePartition(name: string, byteLength: number): void {
  partitions.set(name, new Uint8Array(byteLength).fill(0xff));
}

export default class Flash {
  readonly #bytes: Uint8Array;

  constructor(partition: string) {
    const bytes = partitions.get(partition);
    if (!bytes) throw new Error(`flash: no partition ${partition}`);
    this.#bytes = bytes;
  }

  get byteLength(): number {
    return this.#bytes.length;
  }

  get blockSize(): number {
    return blockSize;
  }

  erase(block: number): void {
    if (!Number.isInteger(block) || block < 0 || (block + 1) * blockSize > this.#bytes.length)
      throw new RangeError("flash: invalid block");
    this.#bytes.fill(0xff, block * blockSize, (block + 1) * blockSize);
  }

  read(offset: number, byteLength: number): ArrayBuffer {
    this.#check(offset, byteLength);
    return this.#bytes.slice(offset, offset + byteLength).buffer;
  }

  write(offset: number, byteLength: number, buffer: ArrayBuffer | Uint8Array): void {
    this.#check(offset, byteLength);
    const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : buffer;
    if (bytes.length < byteLength) throw new RangeError("flash: buffer shorter than byteLength");
    for (let i = 0; i < byteLength; i++) this.#bytes[offset + i] &= bytes[i];
  }

  #check(offset: number, byteLength: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(byteLength) ||
      offset < 0 ||
      byteLength < 0 ||
      offset + byteLength > this.#bytes.length
    )
      throw new RangeError("flash: out of range");
  }
}
