/**
 * "provisio-platform" on the Moddable simulator (lin, mac): the identity in `preference` (a JSON
 * file there), the outgoing messages in RAM. Moddable's `flash` module exists for esp, esp32 and
 * nrf52 only, so a flash partition is refused with a message instead of failing the build.
 */
import { MemoryMessageQueue } from "provisio-sdk";
import type { CreateQueue, CreateStore } from "./platform";
import { preferenceStore } from "./preference-store";

function refusePartition(setting: string, partition: string | undefined, instead: string): void {
  if (partition !== undefined)
    throw new Error(`${setting} "${partition}": flash partitions exist on the ESP32 only; the simulator ${instead}`);
}

export const createStore: CreateStore = (options = {}) => {
  refusePartition("storePartition", options.partition, "keeps the identity in preferences");
  return preferenceStore(options);
};

export const createQueue: CreateQueue = (options = {}) => {
  refusePartition("queuePartition", options.partition, "keeps waiting messages in RAM");
  return new MemoryMessageQueue(options);
};
