/**
 * The simulated device's flash: a NOR image in its state directory, and on demand a power cut
 * after the Nth write, for demonstrations and reboot tests. Both engines use it: the Node engine
 * runs the record store over it directly, the XS engine over a flash port the host serves from it.
 */
import { join } from "node:path";
import type { Flash } from "../../sdk/storage/flash";
import { NorFlashFile, PowerCutError } from "../../targets/node/nor-flash-file";

/** A small data partition of an ESP32: four 4 KiB sectors. */
export const deviceFlashGeometry = { sectorSize: 4096, sectorCount: 4 };

export interface DeviceFlashOptions {
  /** The image is `flash.bin` in this directory, created erased when absent. */
  stateDir: string;
  /** This many writes reach the flash whole; the power fails halfway through the next write or erase. */
  powerCutAfterWrites?: number;
  /** Called when the power fails, once the torn write or erase is on disk: the device must not run on. */
  onPowerCut?(): void;
}

/** The path of the device's flash image in `stateDir`. */
export const deviceFlashPath = (stateDir: string) => join(stateDir, "flash.bin");

class PowerCutFlash implements Flash {
  readonly sectorSize: number;
  readonly size: number;
  readonly #flash: NorFlashFile;
  readonly #options: DeviceFlashOptions;
  #writes = 0;

  constructor(flash: NorFlashFile, options: DeviceFlashOptions) {
    this.#flash = flash;
    this.#options = options;
    this.sectorSize = flash.sectorSize;
    this.size = flash.size;
  }

  read(offset: number, length: number): Uint8Array {
    return this.#flash.read(offset, length);
  }

  write(offset: number, bytes: Uint8Array): void {
    if (this.#writes === this.#options.powerCutAfterWrites) this.#flash.cutPowerAfterBytes(bytes.length >>> 1);
    this.#guard(() => this.#flash.write(offset, bytes));
    this.#writes++;
  }

  erase(sector: number): void {
    if (this.#writes === this.#options.powerCutAfterWrites) this.#flash.cutPowerDuringErase(0);
    this.#guard(() => this.#flash.erase(sector));
  }

  #guard(change: () => void): void {
    try {
      change();
    } catch (error) {
      if (error instanceof PowerCutError) this.#options.onPowerCut?.();
      throw error;
    }
  }
}

/** The device's flash; without `powerCutAfterWrites`, the NorFlashFile itself. */
export function openDeviceFlash(options: DeviceFlashOptions): Flash {
  const flash = new NorFlashFile({ path: deviceFlashPath(options.stateDir), ...deviceFlashGeometry });
  return options.powerCutAfterWrites === undefined ? flash : new PowerCutFlash(flash, options);
}
