/**
 * What the flash and preference stores share: the record kept in memory, sequence numbering, the
 * size check, and the order of a clear. A subclass only commits entries to its medium.
 */
import type { RecordStore } from "../ports";
import { encodeEntry, type ScanResult } from "./entry";
import { StorageError } from "./errors";

export abstract class EntryRecordStore implements RecordStore {
  /** The newest entry was damaged at boot and an older record is in use. */
  readonly recovered: boolean;
  /** The largest record `write` accepts. */
  readonly maxRecordBytes: number;
  private _record: Uint8Array | undefined;
  private _sequence: number;

  protected constructor(scan: ScanResult, maxRecordBytes: number) {
    this.recovered = scan.recovered;
    this.maxRecordBytes = maxRecordBytes;
    this._record = scan.record;
    this._sequence = scan.lastSequence;
  }

  read(): Uint8Array | undefined {
    return this._record && this._record.slice();
  }

  write(record: Uint8Array): void {
    if (record.length > this.maxRecordBytes)
      throw new StorageError(
        "record-too-large",
        `a record of ${record.length} bytes exceeds the store's ${this.maxRecordBytes}`,
      );
    this.commit(encodeEntry(this._sequence + 1, record), false);
    this._sequence++;
    this._record = record.slice();
  }

  /**
   * Commits the entry that clears the record, then lets the subclass remove every other entry so
   * no old key or token stays on the medium. A cut before the clearing entry is complete leaves
   * the old record; after, no record.
   */
  clear(): void {
    this.commit(encodeEntry(this._sequence + 1, undefined), true);
    this._sequence++;
    this._record = undefined;
    this.removeOthers();
  }

  /**
   * Makes `entry` durable and checks it reads back, or throws leaving the previous entry the
   * newest valid one. `clearing` marks the entry that clears the record.
   */
  protected abstract commit(entry: Uint8Array, clearing: boolean): void;
  /** Removes every entry but the one just committed by a clear. */
  protected abstract removeOthers(): void;
}
