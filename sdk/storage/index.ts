/** Power-safe storage of the device's record (over raw NOR flash, or Moddable `preference`) and of its outgoing messages. */
export type { Flash } from "./flash";
export { FlashRecordStore, type FlashRecordStoreOptions } from "./flash-record-store";
export {
  PreferenceRecordStore,
  type Preference,
  type PreferenceRecordStoreOptions,
  type PreferenceValue,
} from "./preference-record-store";
export {
  FlashMessageQueue,
  type FlashMessageQueueOptions,
  type MessageQueue,
  type QueuedMessage,
} from "./message-queue";
export type { QueueFullPolicy, QueueLimitOptions } from "./queue-limits";
export { MemoryMessageQueue, type MemoryMessageQueueOptions } from "./memory-message-queue";
export { StorageError, type StorageErrorCode } from "./errors";
export { crc32 } from "./crc32";
