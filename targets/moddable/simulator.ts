/**
 * "provisio-platform" on the Moddable simulator (lin, mac): the identity in `preference` (a JSON
 * file there), keys from /dev/urandom. Moddable's `flash` module exists for esp, esp32 and nrf52
 * only, so a flash partition is refused with a message instead of failing the build.
 */
import type { CreateStore, PlatformRandom } from "./platform";
import { preferenceStore } from "./preference-store";
import { urandom } from "./urandom";

export const createStore: CreateStore = (options = {}) => {
  if (options.partition !== undefined)
    throw new Error(
      `storePartition "${options.partition}": flash partitions exist on the ESP32 only; the simulator keeps the identity in preferences`,
    );
  return preferenceStore(options);
};

export const random: PlatformRandom = urandom;
