/** Power-safe storage of the device's record: over raw NOR flash, or over Moddable `preference`. */
export type { Flash } from "./flash";
export { FlashRecordStore, type FlashRecordStoreOptions } from "./flash-record-store";
export {
  PreferenceRecordStore,
  type Preference,
  type PreferenceRecordStoreOptions,
  type PreferenceValue,
} from "./preference-record-store";
export { StorageError, type StorageErrorCode } from "./errors";
export { crc32 } from "./crc32";
