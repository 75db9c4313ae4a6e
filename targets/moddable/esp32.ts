/**
 * "provisio-platform" on the ESP32: the identity in `preference` (NVS) or, with `partition`, in a
 * raw `flash` partition (sdk/storage's FlashRecordStore); the hardware RNG for keys.
 */
import { FlashRecordStore } from "provisio-sdk";
import { espRandom } from "./esp-random";
import { ModdableFlash } from "./flash";
import type { CreateStore, PlatformRandom } from "./platform";
import { preferenceStore } from "./preference-store";

export const createStore: CreateStore = (options = {}) =>
  options.partition === undefined
    ? preferenceStore(options)
    : new FlashRecordStore({ flash: new ModdableFlash(options.partition), log: options.log });

export const random: PlatformRandom = espRandom;
