/**
 * The record store on Moddable's `preference` (NVS on ESP32, a JSON file on the simulator),
 * through the alternating-keys PreferenceRecordStore: one key overwritten in place would not be
 * power-safe, since Moddable erases the old value before it writes the new one.
 */
import ModdablePreference from "preference";
import { PreferenceRecordStore, type RecordStore } from "provisio-sdk";
import type { ModdableStoreOptions } from "./platform";

export function preferenceStore(options: ModdableStoreOptions): RecordStore {
  return new PreferenceRecordStore({
    preference: ModdablePreference,
    domain: options.domain ?? "provisio",
    key: options.key ?? "record",
    log: options.log,
  });
}
