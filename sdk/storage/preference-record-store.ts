/**
 * A RecordStore on Moddable's `preference` module (ESP-IDF NVS). Moddable erases a key before it
 * writes the new value, so a power cut between the two loses a key overwritten in place. This
 * store alternates between two keys, `<key>0` and `<key>1`, each holding one entry (see entry.ts)
 * with a sequence number and a CRC, and only ever overwrites the key that does not hold the newest
 * valid record: a cut loses at most the entry being written.
 */
import { silentLog, type Log } from "../ports";
import { utf8Encode } from "../utf8";
import { entryOverheadBytes, EntryScan, sameBytes } from "./entry";
import { EntryRecordStore } from "./entry-record-store";
import { StorageError } from "./errors";

export type PreferenceValue = boolean | number | string | ArrayBuffer;

/** The part of Moddable's `preference` module the store uses (its static functions). */
export interface Preference {
  get(domain: string, key: string): PreferenceValue | undefined;
  set(domain: string, key: string, value: PreferenceValue): void;
  delete(domain: string, key: string): void;
}

export interface PreferenceRecordStoreOptions {
  preference: Preference;
  /** At most 15 bytes. */
  domain: string;
  /** At most 14 bytes: the store appends the key's slot digit. */
  key: string;
  /** Receives `record-store-recovered` when the newest entry was damaged. */
  log?: Log;
}

/** NVS names are at most 15 bytes. */
const maxNameBytes = 15;
/**
 * The largest value the store writes. Moddable documents 4000 bytes for a string; buffers are
 * held to the same so one entry always fits in one 4 KB NVS page.
 */
const maxValueBytes = 4000;

export class PreferenceRecordStore extends EntryRecordStore {
  private readonly _preference: Preference;
  private readonly _domain: string;
  private readonly _keys: readonly [string, string];
  /** The slot (0 or 1) holding the newest valid entry, -1 when neither does. */
  private _slot: number;

  constructor(options: PreferenceRecordStoreOptions) {
    const { preference, domain } = options;
    if (utf8Encode(domain).length > maxNameBytes || utf8Encode(options.key).length > maxNameBytes - 1)
      throw new StorageError(
        "invalid-options",
        `preference domain must be at most ${maxNameBytes} bytes and key ${maxNameBytes - 1}`,
      );
    const keys = [options.key + "0", options.key + "1"] as const;
    const scan = new EntryScan();
    let newestSlot = -1;
    for (let slot = 0; slot < 2; slot++) {
      const value = preference.get(domain, keys[slot]);
      if (!(value instanceof ArrayBuffer)) continue;
      const entry = scan.take(new Uint8Array(value), 0);
      if (entry && entry === scan.newest) newestSlot = slot;
    }
    super(scan.finish(options.log ?? silentLog, "preference"), maxValueBytes - entryOverheadBytes);
    this._preference = preference;
    this._domain = domain;
    this._keys = keys;
    this._slot = newestSlot;
  }

  /** Deletes the old slot, then the clearing entry itself. */
  protected override removeOthers(): void {
    this._preference.delete(this._domain, this._keys[1 - this._slot]);
    this._preference.delete(this._domain, this._keys[this._slot]);
    this._slot = -1;
  }

  /** Always into the slot that does not hold the newest valid entry. */
  protected override commit(entry: Uint8Array): void {
    const slot = this._slot === 0 ? 1 : 0;
    this._preference.set(this._domain, this._keys[slot], entry.buffer as ArrayBuffer);
    const stored = this._preference.get(this._domain, this._keys[slot]);
    if (!(stored instanceof ArrayBuffer) || !sameBytes(new Uint8Array(stored), entry)) {
      this._preference.delete(this._domain, this._keys[slot]);
      throw new StorageError(
        "verify-failed",
        `preference ${this._domain}/${this._keys[slot]} did not read back what was written`,
      );
    }
    this._slot = slot;
  }
}
