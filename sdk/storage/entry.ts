/**
 * The versioned entry both record stores write, and the boot-time choice of the newest valid one.
 *
 *   [0xA5] [kind] [length u16] [sequence u32] [body: length bytes] [CRC-32 of all before, u32]
 *
 * Little-endian. `kind` 1 holds a record, kind 0 (empty body) says the record was cleared. The
 * magic byte keeps a written header from ever reading as erased flash (all 0xFF). The CRC comes
 * last, so an entry cut anywhere by a power failure fails its check; there is no separate commit
 * marker because a complete CRC is one.
 */
import type { Log } from "../ports";
import { crc32 } from "./crc32";

const magic = 0xa5;
const kindCleared = 0;
const kindRecord = 1;
const headerBytes = 8;
/** Header and CRC around the body. */
export const entryOverheadBytes = headerBytes + 4;
/** The length field is 16 bits. */
export const maxBodyBytes = 0xffff;

export interface Entry {
  sequence: number;
  /** Undefined for the entry that clears the record. */
  record: Uint8Array | undefined;
  /** Offset just past the entry. */
  end: number;
}

/** Little-endian, as every entry on flash. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}

/** The entry that stores `record`, or clears the record when it is undefined. */
export function encodeEntry(sequence: number, record: Uint8Array | undefined): Uint8Array {
  const length = record ? record.length : 0;
  const bytes = new Uint8Array(entryOverheadBytes + length);
  bytes[0] = magic;
  bytes[1] = record ? kindRecord : kindCleared;
  bytes[2] = length;
  bytes[3] = length >>> 8;
  writeU32(bytes, 4, sequence);
  if (record) bytes.set(record, headerBytes);
  writeU32(bytes, headerBytes + length, crc32(bytes.subarray(0, headerBytes + length)));
  return bytes;
}

/** True when `length` bytes from `offset` are all 0xFF (erased). */
export function isErased(bytes: Uint8Array, offset: number, length: number): boolean {
  for (let i = offset; i < offset + length; i++) if (bytes[i] !== 0xff) return false;
  return true;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface ScanResult {
  record: Uint8Array | undefined;
  /**
   * The number the next entry follows. One past the newest valid entry's when that entry was
   * damaged, so a marginal bit that later reads right again cannot make it tie with the next
   * record. Never taken from a damaged header: its sequence bytes may be unwritten (0xFFFFFFFF).
   */
  lastSequence: number;
  /** The newest entry found was damaged (bit rot, or a write cut short) and an older one was used. */
  recovered: boolean;
}

/**
 * Collects entries at boot and keeps the newest valid one. A damaged entry whose header still
 * reads (magic, kind, a length that fits) and claims a higher sequence number means the newest
 * entry was lost: to bit rot, or to a write cut short.
 */
export class EntryScan {
  private _newest: Entry | undefined;
  private _highestSequence = 0;

  /** The valid entry at `offset`, or undefined when the bytes there are not one. */
  take(bytes: Uint8Array, offset: number): Entry | undefined {
    if (offset + entryOverheadBytes > bytes.length || bytes[offset] !== magic) return undefined;
    const kind = bytes[offset + 1];
    const length = bytes[offset + 2] | (bytes[offset + 3] << 8);
    const bodyEnd = offset + headerBytes + length;
    if ((kind !== kindRecord && (kind !== kindCleared || length !== 0)) || bodyEnd + 4 > bytes.length) return undefined;
    const sequence = readU32(bytes, offset + 4);
    if (sequence > this._highestSequence) this._highestSequence = sequence;
    if (crc32(bytes.subarray(offset, bodyEnd)) !== readU32(bytes, bodyEnd)) return undefined;
    const entry: Entry = {
      sequence,
      record: kind === kindRecord ? bytes.slice(offset + headerBytes, bodyEnd) : undefined,
      end: bodyEnd + 4,
    };
    if (!this._newest || sequence > this._newest.sequence) this._newest = entry;
    return entry;
  }

  get newest(): Entry | undefined {
    return this._newest;
  }

  /** The outcome; logs a warning when the newest entry was damaged. */
  finish(log: Log, store: string): ScanResult {
    const newestValid = this._newest ? this._newest.sequence : 0;
    const recovered = this._highestSequence > newestValid;
    if (recovered)
      log.write("warn", "record-store-recovered", {
        store,
        usedSequence: newestValid,
        damagedSequence: this._highestSequence,
      });
    return { record: this._newest && this._newest.record, lastSequence: newestValid + (recovered ? 1 : 0), recovered };
  }
}
