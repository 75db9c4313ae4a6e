/** A RecordStore in memory that can be told to fail, and calls back on each write. */
import type { RecordStore } from "../../sdk/ports";

export class MemoryStore implements RecordStore {
  record: Uint8Array | undefined;
  writes = 0;
  failWrites = false;
  /** Runs after each successful write: a test checks what else had happened by then. */
  onWrite: ((record: Uint8Array) => void) | undefined;

  read(): Uint8Array | undefined {
    return this.record && this.record.slice();
  }

  write(record: Uint8Array): void {
    if (this.failWrites) throw new Error("store write failed");
    this.record = record.slice();
    this.writes++;
    this.onWrite?.(this.record);
  }

  clear(): void {
    this.record = undefined;
  }
}
