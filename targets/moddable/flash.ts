/** A Moddable `flash` partition (ESP32 only) as the core's Flash port (Uint8Array in and out). */
import ModdableFlashPartition from "flash";
import type { Flash } from "provisio-sdk";

export class ModdableFlash implements Flash {
  private readonly _flash: ModdableFlashPartition;
  readonly sectorSize: number;
  readonly size: number;

  constructor(partition: string) {
    this._flash = new ModdableFlashPartition(partition);
    this.sectorSize = this._flash.blockSize;
    this.size = this._flash.byteLength;
  }

  read(offset: number, length: number): Uint8Array {
    return new Uint8Array(this._flash.read(offset, length) as ArrayBuffer);
  }

  write(offset: number, bytes: Uint8Array): void {
    this._flash.write(offset, bytes.length, bytes);
  }

  erase(sector: number): void {
    this._flash.erase(sector);
  }
}
