/**
 * The Flash port: a raw NOR flash region, as Moddable's `flash` module gives one partition.
 * NOR semantics: `erase` sets every byte of a sector to 0xFF, `write` can only clear bits (the
 * flash stores the AND of old and new), and nothing is atomic: a power cut can leave a write or
 * an erase half done.
 */
import { isErased, sameBytes } from "./entry";
import { StorageError } from "./errors";

export interface Flash {
  /** Bytes in one erasable sector (4096 on an ESP32). */
  readonly sectorSize: number;
  /** Bytes in the whole region, a multiple of `sectorSize`. */
  readonly size: number;
  /** A copy of `length` bytes from `offset`. */
  read(offset: number, length: number): Uint8Array;
  /** Programs `bytes` at `offset`; the region must have been erased since it was last written. */
  write(offset: number, bytes: Uint8Array): void;
  /** Sets every byte of sector `sector` (counted from 0) to 0xFF. */
  erase(sector: number): void;
}

/** ESP-IDF programs flash in 32-bit words: entries start on one so no write straddles a word. */
export const wordAligned = (offset: number) => (offset + 3) & ~3;

/** True when `length` bytes of `flash` from `address` read as erased (all 0xFF). */
export function flashErased(flash: Flash, address: number, length: number): boolean {
  return isErased(flash.read(address, length), 0, length);
}

/** Erases `sector` and checks that it reads back erased; throws StorageError("verify-failed") when not. */
export function eraseSector(flash: Flash, sector: number): void {
  flash.erase(sector);
  if (!flashErased(flash, sector * flash.sectorSize, flash.sectorSize))
    throw new StorageError("verify-failed", `flash sector ${sector} did not erase`);
}

/**
 * Programs `entry` at `address` and reads it back. When it does not read back, programs
 * `invalidation` over its start, so that no scan takes it, and returns the error to throw once the
 * caller has noted that no more entries go after it.
 */
export function writeVerified(
  flash: Flash,
  address: number,
  entry: Uint8Array,
  invalidation: Uint8Array,
): StorageError | undefined {
  flash.write(address, entry);
  if (sameBytes(flash.read(address, entry.length), entry)) return undefined;
  flash.write(address, invalidation);
  return new StorageError("verify-failed", `flash at ${address} did not read back what was written`);
}
