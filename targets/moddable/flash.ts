/** A Moddable `flash` partition (ESP32 only) as the core's Flash port (Uint8Array in and out). */
import ModdableFlashPartition from "flash";
import type { Flash } from "provisio-sdk";

export class ModdableFlash implements Flash {
  readonly #flash: ModdableFlashPartition;
  readonly sectorSize: number;
  readonly size: number;

  constructor(partition: string) {
    this.#flash = new ModdableFlashPartition(partition);
    this.sectorSize = this.#flash.blockSize;
    this.size = this.#flash.byteLength;
  }

  read(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.#flash.read(offset, length) as ArrayBuffer);
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#flash.write(offset, bytes.length, bytes);
  }

  erase(sector: number): void {
    this.#flash.erase(sector);
  }
}
