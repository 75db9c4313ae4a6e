/**
 * The Flash port: a raw NOR flash region, as Moddable's `flash` module gives one partition.
 * NOR semantics: `erase` sets every byte of a sector to 0xFF, `write` can only clear bits (the
 * flash stores the AND of old and new), and nothing is atomic: a power cut can leave a write or
 * an erase half done.
 */
import { isErased } from "./entry";

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
