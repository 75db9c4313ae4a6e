/**
 * The Store on Moddable: by default `preference` (NVS) through the alternating-keys
 * PreferenceRecordStore; with `partition`, a raw `flash` partition through the FlashRecordStore
 * (sdk/storage). Both are power-safe; one preference key overwritten in place would not be.
 */
import ModdableFlashPartition from "flash";
import ModdablePreference from "preference";
import { FlashRecordStore, PreferenceRecordStore, type Flash, type Log, type RecordStore } from "provisio-sdk";

export interface ModdableStoreOptions {
  /** NVS domain, at most 15 characters. Default "provisio". */
  domain?: string;
  /** NVS key prefix, at most 14 characters (the store adds a slot digit). Default "record". */
  key?: string;
  /** A data partition (see manifest.json) to use as raw NOR flash instead of `preference`. */
  partition?: string;
  log?: Log;
}

/** A `flash` partition as the core's Flash port (Uint8Array in and out). */
export class ModdableFlash implements Flash {
  readonly #flash: ModdableFlashPartition;
  readonly sectorSize: number;
  readonly size: number;

  constructor(partition: string) {
    this.#flash = new ModdableFlashPartition(partition);
    this.sectorSize = this.#flash.blockSize;
    this.size = this.#flash.byteLength;
  }

  read(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.#flash.read(offset, length) as ArrayBuffer);
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#flash.write(offset, bytes.length, bytes);
  }

  erase(sector: number): void {
    this.#flash.erase(sector);
  }
}

export function createModdableStore(options: ModdableStoreOptions = {}): RecordStore {
  if (options.partition !== undefined) return new FlashRecordStore({ flash: new ModdableFlash(options.partition), log: options.log });
  return new PreferenceRecordStore({ preference: ModdablePreference, domain: options.domain ?? "provisio", key: options.key ?? "record", log: options.log });
}
