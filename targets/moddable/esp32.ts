/**
 * "provisio-platform" on the ESP32: the identity in `preference` (NVS) or, with `partition`, in a
 * raw `flash` partition (sdk/storage's FlashRecordStore); the outgoing messages in a partition of
 * their own (FlashMessageQueue) or in RAM.
 */
import { FlashMessageQueue, FlashRecordStore, MemoryMessageQueue } from "provisio-sdk";
import { ModdableFlash } from "./flash";
import type { CreateQueue, CreateStore } from "./platform";
import { preferenceStore } from "./preference-store";

export const createStore: CreateStore = (options = {}) =>
  options.partition === undefined
    ? preferenceStore(options)
    : new FlashRecordStore({ flash: new ModdableFlash(options.partition), log: options.log });

export const createQueue: CreateQueue = (options = {}) =>
  options.partition === undefined
    ? new MemoryMessageQueue(options)
    : new FlashMessageQueue({ ...options, flash: new ModdableFlash(options.partition) });
