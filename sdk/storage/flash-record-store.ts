/**
 * A RecordStore on raw NOR flash that a power cut at any instant leaves holding the old record or
 * the new one.
 *
 * The sectors form a ring used as a log. A write appends one entry (see entry.ts) after the last
 * one in the current sector; when it does not fit, the next sector in the ring is erased and the
 * entry goes there. The live record is the new entry itself, so garbage collection needs no copy:
 * the sector erased is always the oldest, never the one holding the newest committed record, and
 * it is erased before anything is written to it. On boot every sector is scanned and the valid
 * entry with the highest sequence number wins. Sectors are erased in turn, so wear is even, and a
 * sector is erased once every `sectorCount * floor(sectorSize / entry size)` writes.
 *
 * A write reads back what it wrote: a mismatch throws and the bad entry's magic byte is cleared
 * so it never counts. The store never appends where the flash is not erased (the tail of a write
 * cut short, garbage left by a half-done erase): it moves to the next sector instead.
 */
import { silentLog, type Log } from "../ports";
import { entryOverheadBytes, EntryScan, isErased, maxBodyBytes } from "./entry";
import { EntryRecordStore } from "./entry-record-store";
import { StorageError } from "./errors";
import { eraseSector, flashErased, wordAligned, writeVerified, type Flash } from "./flash";

export interface FlashRecordStoreOptions {
  /** The region the store owns entirely: at least two sectors. */
  flash: Flash;
  /** Receives `record-store-recovered` when the newest entry was damaged. */
  log?: Log;
}

export class FlashRecordStore extends EntryRecordStore {
  private readonly _flash: Flash;
  private readonly _sectorCount: number;
  /** The sector holding the newest entry, -1 when the flash holds none. */
  private _sector: number;
  /** Where the next entry may go in `_sector`, -1 when that sector takes no more. */
  private _free: number;

  constructor(options: FlashRecordStoreOptions) {
    const flash = options.flash;
    const sectorCount = flash.size / flash.sectorSize;
    if (!Number.isInteger(sectorCount) || sectorCount < 2 || flash.sectorSize < entryOverheadBytes + 4)
      throw new StorageError(
        "invalid-options",
        `a flash record store needs at least two sectors (size ${flash.size}, sector ${flash.sectorSize})`,
      );
    const scan = new EntryScan();
    let newestSector = -1;
    let newestFree = -1;
    for (let sector = 0; sector < sectorCount; sector++) {
      const bytes = flash.read(sector * flash.sectorSize, flash.sectorSize);
      let offset = 0;
      let free = -1;
      while (offset < bytes.length) {
        if (isErased(bytes, offset, Math.min(entryOverheadBytes, bytes.length - offset))) {
          free = offset;
          break;
        }
        const entry = scan.take(bytes, offset);
        if (!entry) break;
        if (entry === scan.newest) newestSector = sector;
        offset = wordAligned(entry.end);
      }
      if (newestSector === sector) newestFree = free;
    }
    super(
      scan.finish(options.log ?? silentLog, "flash"),
      Math.min(flash.sectorSize - entryOverheadBytes, maxBodyBytes),
    );
    this._flash = flash;
    this._sectorCount = sectorCount;
    this._sector = newestSector;
    this._free = newestFree;
  }

  /** The clearing entry starts a fresh sector, so erasing all the others wipes every old entry. */
  protected override removeOthers(): void {
    for (let sector = 0; sector < this._sectorCount; sector++) if (sector !== this._sector) this._flash.erase(sector);
  }

  protected override commit(entry: Uint8Array, clearing: boolean): void {
    const sectorSize = this._flash.sectorSize;
    let sector = this._sector;
    let offset = this._free;
    if (
      clearing ||
      offset < 0 ||
      offset + entry.length > sectorSize ||
      !flashErased(this._flash, sector * sectorSize + offset, entry.length)
    ) {
      sector = (this._sector + 1) % this._sectorCount;
      offset = 0;
      eraseSector(this._flash, sector);
    }
    const failed = writeVerified(this._flash, sector * sectorSize + offset, entry, new Uint8Array(1));
    if (failed) {
      if (sector === this._sector) this._free = -1;
      throw failed;
    }
    this._sector = sector;
    this._free = wordAligned(offset + entry.length);
  }
}
