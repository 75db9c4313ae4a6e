/**
 * A simulated NOR flash kept in a file, for the desktop device: the image file holds the bytes,
 * `<path>.wear.json` the erase count of each sector. The NOR semantics and the power-cut
 * injection are SimulatedNorFlash's; this class writes every change through to the files, the
 * half-done ones included, so a new instance (the next run of the device) finds exactly what a
 * cut left.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { SimulatedNorFlash } from "./simulated-nor-flash";

export { PowerCutError } from "./simulated-nor-flash";

export interface NorFlashFileOptions {
  path: string;
  sectorSize: number;
  sectorCount: number;
  /** Seeds the garbage a simulated power cut leaves. */
  seed?: number;
}

function load(path: string, sectorSize: number, sectorCount: number): { image?: Uint8Array; eraseCounts?: number[] } {
  if (!existsSync(path)) return {};
  const image = new Uint8Array(readFileSync(path));
  if (image.length !== sectorSize * sectorCount)
    throw new Error(`flash image ${path} holds ${image.length} bytes, not ${sectorCount} sectors of ${sectorSize}`);
  const wearPath = `${path}.wear.json`;
  if (!existsSync(wearPath)) return { image };
  const eraseCounts: unknown = JSON.parse(readFileSync(wearPath, "utf8"));
  if (
    !Array.isArray(eraseCounts) ||
    eraseCounts.length !== sectorCount ||
    !eraseCounts.every((n) => Number.isInteger(n) && n >= 0)
  )
    throw new Error(`${wearPath} is not a list of ${sectorCount} erase counts`);
  return { image, eraseCounts };
}

export class NorFlashFile extends SimulatedNorFlash {
  readonly path: string;

  constructor(options: NorFlashFileOptions) {
    const { path, sectorSize, sectorCount, seed } = options;
    const stored = load(path, sectorSize, sectorCount);
    super({ sectorSize, sectorCount, seed, ...stored });
    this.path = path;
    if (!stored.image) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // The image holds the device's secret key: readable by its owner only.
      writeFileSync(path, this.image, { mode: 0o600 });
      this.#saveWear();
    }
  }

  override write(offset: number, bytes: Uint8Array): void {
    try {
      super.write(offset, bytes);
    } finally {
      this.#save(offset, bytes.length);
    }
  }

  override erase(sector: number): void {
    try {
      super.erase(sector);
    } finally {
      this.#save(sector * this.sectorSize, this.sectorSize);
      this.#saveWear();
    }
  }

  /** Writes bytes `offset..offset+length` of the image (clamped to it) through to the file. */
  #save(offset: number, length: number): void {
    const start = Math.max(0, offset);
    const end = Math.min(this.size, offset + length);
    if (start >= end) return;
    const fd = openSync(this.path, "r+");
    try {
      writeSync(fd, this.image, start, end - start, start);
    } finally {
      closeSync(fd);
    }
  }

  #saveWear(): void {
    writeFileSync(`${this.path}.wear.json`, JSON.stringify(this.eraseCounts) + "\n");
  }
}
