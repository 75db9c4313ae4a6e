import { codedErrorClass } from "../errors";

export type StorageErrorCode =
  /** The record does not fit in one entry of the store. */
  | "record-too-large"
  /** The medium did not read back what was written or erased: the old record is still in place. */
  | "verify-failed"
  /** The message queue holds as many messages or bytes as it may (policy "refuse"). */
  | "queue-full"
  /** The store's options cannot work (too few sectors, a key name too long...). */
  | "invalid-options";

/** What a record store throws; a write that throws leaves the old record in place. */
export const StorageError = codedErrorClass<StorageErrorCode>("StorageError");
export type StorageError = InstanceType<typeof StorageError>;
