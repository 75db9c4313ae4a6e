/**
 * A RecordStore on one file. A write goes to a temporary file that is fsynced and renamed over the
 * record, then the directory is fsynced: a crash leaves the old record or the new one, never half.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { RecordStore } from "../../sdk/ports";

export class FileRecordStore implements RecordStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }

  read(): Uint8Array | undefined {
    try {
      return new Uint8Array(readFileSync(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  write(record: Uint8Array): void {
    const temporary = `${this.path}.tmp`;
    // The record holds the device's secret key: readable by its owner only.
    const fd = openSync(temporary, "w", 0o600);
    try {
      writeSync(fd, record);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    this.#syncDirectory();
  }

  clear(): void {
    rmSync(this.path, { force: true });
    this.#syncDirectory();
  }

  #syncDirectory(): void {
    const fd = openSync(dirname(this.path), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
