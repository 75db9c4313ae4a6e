/**
 * A NOR flash in memory with the real semantics (erase sets a sector to 0xFF, a write stores the
 * AND of old and new bytes), wear counters, and power cuts on demand: after the Nth byte written
 * (the next byte is left half-programmed) or during an erase (the sector left partly erased:
 * some bytes 0xFF, some old, a band of garbage between). Once the power is cut every operation
 * throws PowerCutError until `restorePower()`: the reboot. Portable (no Node imports): scenario
 * tests run it inside XS, and targets/node/nor-flash-file.ts persists it to a file.
 */
import type { Flash } from "../../sdk/storage/flash";

export class PowerCutError extends Error {
  constructor() {
    super("power cut (simulated)");
    this.name = "PowerCutError";
  }
}

export interface SimulatedNorFlashOptions {
  sectorSize: number;
  sectorCount: number;
  /** The flash's contents (copied); erased flash when absent. */
  image?: Uint8Array;
  /** Erases so far per sector (copied). */
  eraseCounts?: readonly number[];
  /** Seeds the garbage a power cut leaves: the same seed leaves the same garbage. */
  seed?: number;
}

/** Width of the band of garbage a cut erase leaves between its erased and its old bytes. */
const garbageBand = 16;

export class SimulatedNorFlash implements Flash {
  readonly sectorSize: number;
  readonly size: number;
  /** The raw contents: tests flip bits here to simulate bit rot. */
  readonly image: Uint8Array;
  readonly eraseCounts: number[];
  /** Totals since construction, for benchmarks. */
  bytesWritten = 0;
  erases = 0;
  readonly #seed: number;
  #garbageDrawn = 0;
  #bytesBeforeCut: number | undefined;
  #erasesBeforeCut: number | undefined;
  #powerCut = false;

  constructor(options: SimulatedNorFlashOptions) {
    this.sectorSize = options.sectorSize;
    this.size = options.sectorSize * options.sectorCount;
    this.image = new Uint8Array(this.size).fill(0xff);
    if (options.image) this.image.set(options.image);
    this.eraseCounts = options.eraseCounts
      ? options.eraseCounts.slice()
      : new Array<number>(options.sectorCount).fill(0);
    this.#seed = options.seed ?? 0x2545f491;
  }

  /** A flash with the same contents and wear, with the power on. */
  clone(seed?: number): SimulatedNorFlash {
    return new SimulatedNorFlash({
      sectorSize: this.sectorSize,
      sectorCount: this.eraseCounts.length,
      image: this.image,
      eraseCounts: this.eraseCounts,
      seed,
    });
  }

  /** The power fails once `bytes` more bytes have been written. */
  cutPowerAfterBytes(bytes: number): void {
    this.#bytesBeforeCut = bytes;
  }

  /** The power fails in the middle of the erase after `erases` more complete ones. */
  cutPowerDuringErase(erases: number): void {
    this.#erasesBeforeCut = erases;
  }

  /** Power is back (a reboot); no cut is pending. */
  restorePower(): void {
    this.#powerCut = false;
    this.#bytesBeforeCut = undefined;
    this.#erasesBeforeCut = undefined;
  }

  read(offset: number, length: number): Uint8Array {
    this.#checkPower();
    this.#checkRange(offset, length);
    return this.image.slice(offset, offset + length);
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#checkPower();
    this.#checkRange(offset, bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      if (this.#bytesBeforeCut === 0) {
        this.image[offset + i] &= bytes[i] | this.#garbageByte();
        this.#cut();
      }
      this.image[offset + i] &= bytes[i];
      this.bytesWritten++;
      if (this.#bytesBeforeCut !== undefined) this.#bytesBeforeCut--;
    }
    if (this.#bytesBeforeCut === 0) this.#powerCut = true;
  }

  erase(sector: number): void {
    this.#checkPower();
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.eraseCounts.length)
      throw new RangeError(`no flash sector ${sector}`);
    const start = sector * this.sectorSize;
    this.eraseCounts[sector]++;
    this.erases++;
    if (this.#erasesBeforeCut === 0) {
      const erased = (this.#garbageByte() * this.sectorSize) >>> 8;
      this.image.fill(0xff, start, start + erased);
      const bandEnd = Math.min(erased + garbageBand, this.sectorSize);
      // Erasing only sets bits: the garbage is the old bytes with random bits set.
      for (let i = start + erased; i < start + bandEnd; i++) this.image[i] |= this.#garbageByte();
      this.#cut();
    }
    if (this.#erasesBeforeCut !== undefined) this.#erasesBeforeCut--;
    this.image.fill(0xff, start, start + this.sectorSize);
  }

  #cut(): never {
    this.#powerCut = true;
    throw new PowerCutError();
  }

  #checkPower(): void {
    if (this.#powerCut) throw new PowerCutError();
  }

  #checkRange(offset: number, length: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    )
      throw new RangeError(`flash access ${offset}+${length} is outside 0..${this.size}`);
  }

  /** Byte n of the garbage stream: the seed and n mixed by a 32-bit hash (murmur3's finalizer). */
  #garbageByte(): number {
    let x = (this.#seed ^ Math.imul(++this.#garbageDrawn, 0x9e3779b9)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return (x ^ (x >>> 16)) >>> 24;
  }
}
