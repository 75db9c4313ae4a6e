/**
 * What the module "provisio-platform" provides, on each platform from its own file: manifest.json
 * maps the name to esp32.ts on the board and to simulator.ts on lin/mac, whose Moddable lacks
 * `flash`.
 */
import type { Log, MessageQueue, QueueFullPolicy, RecordStore } from "provisio-sdk";

export interface ModdableStoreOptions {
  /** NVS domain, at most 15 characters. Default "provisio". */
  domain?: string;
  /** NVS key prefix, at most 14 characters (the store adds a slot digit). Default "record". */
  key?: string;
  /** A data partition (see manifest.json) to use as raw NOR flash instead of `preference`: ESP32 only. */
  partition?: string;
  log?: Log;
}

export type CreateStore = (options?: ModdableStoreOptions) => RecordStore;

export interface ModdableQueueOptions {
  /** A data partition (see manifest.json) the queue owns: messages then survive power cuts. ESP32 only. */
  partition?: string;
  whenFull?: QueueFullPolicy;
  log?: Log;
}

/** Where `send` keeps messages until the platform stored them: a flash partition, or RAM. */
export type CreateQueue = (options?: ModdableQueueOptions) => MessageQueue;
