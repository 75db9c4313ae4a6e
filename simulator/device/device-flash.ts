/**
 * The simulated device's flash: two NOR images in its state directory, as two data partitions of
 * an ESP32 (the record store's, and the outgoing message queue's), and on demand a power cut
 * after the Nth write to either, for demonstrations and reboot tests. Both engines use them: the
 * Node engine runs the record store and the queue over them directly, the XS engine over flash
 * ports the host serves from them.
 */
import { join } from "node:path";
import type { Flash } from "../../sdk/storage/flash";
import { NorFlashFile, PowerCutError } from "../../targets/node/nor-flash-file";

/** The record's partition: four 4 KiB sectors. */
export const recordFlashGeometry = { sectorSize: 4096, sectorCount: 4 };
/** The queue's partition: sixteen 4 KiB sectors (64 KiB). */
export const queueFlashGeometry = { sectorSize: 4096, sectorCount: 16 };

export interface DeviceFlashOptions {
  /** The images are `flash.bin` and `queue.bin` in this directory, created erased when absent. */
  stateDir: string;
  /** This many writes reach the flash whole; the power fails halfway through the next write or erase. */
  powerCutAfterWrites?: number;
  /** Called when the power fails, once the torn write or erase is on disk: the device must not run on. */
  onPowerCut?(): void;
}

export interface DeviceFlash {
  record: Flash;
  queue: Flash;
}

/** The path of the device's record image in `stateDir`. */
export const deviceFlashPath = (stateDir: string) => join(stateDir, "flash.bin");

/** Counts the writes to every partition of one device: the power fails for all of them at once. */
class PowerSupply {
  #writes = 0;
  readonly #options: DeviceFlashOptions;

  constructor(options: DeviceFlashOptions) {
    this.#options = options;
  }

  /** True when this write or erase is the one the power fails in. */
  failsNow(): boolean {
    return this.#writes === this.#options.powerCutAfterWrites;
  }

  wrote(): void {
    this.#writes++;
  }

  guard(change: () => void): void {
    try {
      change();
    } catch (error) {
      if (error instanceof PowerCutError) this.#options.onPowerCut?.();
      throw error;
    }
  }
}

class PowerCutFlash implements Flash {
  readonly sectorSize: number;
  readonly size: number;
  readonly #flash: NorFlashFile;
  readonly #power: PowerSupply;

  constructor(flash: NorFlashFile, power: PowerSupply) {
    this.#flash = flash;
    this.#power = power;
    this.sectorSize = flash.sectorSize;
    this.size = flash.size;
  }

  read(offset: number, length: number): Uint8Array {
    return this.#flash.read(offset, length);
  }

  write(offset: number, bytes: Uint8Array): void {
    if (this.#power.failsNow()) this.#flash.cutPowerAfterBytes(bytes.length >>> 1);
    this.#power.guard(() => this.#flash.write(offset, bytes));
    this.#power.wrote();
  }

  erase(sector: number): void {
    if (this.#power.failsNow()) this.#flash.cutPowerDuringErase(0);
    this.#power.guard(() => this.#flash.erase(sector));
  }
}

/** The device's partitions; without `powerCutAfterWrites`, the NorFlashFiles themselves. */
export function openDeviceFlash(options: DeviceFlashOptions): DeviceFlash {
  const record = new NorFlashFile({ path: deviceFlashPath(options.stateDir), ...recordFlashGeometry });
  const queue = new NorFlashFile({ path: join(options.stateDir, "queue.bin"), ...queueFlashGeometry });
  if (options.powerCutAfterWrites === undefined) return { record, queue };
  const power = new PowerSupply(options);
  return { record: new PowerCutFlash(record, power), queue: new PowerCutFlash(queue, power) };
}
