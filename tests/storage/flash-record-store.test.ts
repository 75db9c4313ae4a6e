import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32 } from "../../sdk/storage/crc32";
import { StorageError } from "../../sdk/storage/errors";
import type { Flash } from "../../sdk/storage/flash";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { RecordingLog } from "../../testkit/device/recording-log";
import { SeededRandom } from "../../testkit/device/seeded-random";
import { SimulatedNorFlash } from "../../testkit/device/simulated-nor-flash";

const bytes = (length: number, fill: number) => new Uint8Array(length).fill(fill);
const flash = (sectorCount = 3, sectorSize = 256) => new SimulatedNorFlash({ sectorSize, sectorCount });

function expectStorageError(action: () => void, code: string): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(StorageError);
  expect((thrown as StorageError).code).toBe(code);
}

test("crc32 matches zlib", () => {
  expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  const random = new SeededRandom(3);
  for (const length of [0, 1, 7, 300]) {
    const data = new Uint8Array(length);
    random.fill(data);
    expect(crc32(data)).toBe(zlibCrc32(data));
  }
});

test("an erased flash holds no record; a written record survives a reboot", () => {
  const medium = flash();
  expect(new FlashRecordStore({ flash: medium }).read()).toBeUndefined();
  new FlashRecordStore({ flash: medium }).write(bytes(40, 7));
  const rebooted = new FlashRecordStore({ flash: medium });
  expect(rebooted.read()).toEqual(bytes(40, 7));
  expect(rebooted.recovered).toBe(false);
});

test("read returns a copy and write keeps its own", () => {
  const store = new FlashRecordStore({ flash: flash() });
  const record = bytes(10, 1);
  store.write(record);
  record[0] = 9;
  const read = store.read()!;
  read[1] = 9;
  expect(store.read()).toEqual(bytes(10, 1));
});

test("clear leaves no record, survives a reboot, and wipes every older entry from flash", () => {
  const medium = flash();
  const store = new FlashRecordStore({ flash: medium });
  for (let i = 0; i < 8; i++) store.write(bytes(100, 0x30 + i));
  store.clear();
  expect(store.read()).toBeUndefined();
  expect(new FlashRecordStore({ flash: medium }).read()).toBeUndefined();
  // Only the 12-byte clearing entry is left: every other byte is erased.
  expect(medium.image.filter((b) => b !== 0xff).length).toBeLessThanOrEqual(12);
  store.write(bytes(5, 5));
  expect(new FlashRecordStore({ flash: medium }).read()).toEqual(bytes(5, 5));
});

test("a save writes one entry, and erases one sector only when the current one is full", () => {
  const medium = flash(3, 256);
  const store = new FlashRecordStore({ flash: medium });
  store.write(bytes(48, 1)); // the first save erases sector 0
  const before = { bytes: medium.bytesWritten, erases: medium.erases };
  // 48 + 12 = 60 bytes an entry: 4 entries a 256-byte sector.
  for (let i = 0; i < 12; i++) store.write(bytes(48, i));
  expect(medium.bytesWritten - before.bytes).toBe(12 * 60);
  expect(medium.erases - before.erases).toBe(3);
});

test("wear is spread evenly over the sectors", () => {
  const medium = flash(4, 256);
  const store = new FlashRecordStore({ flash: medium });
  for (let i = 0; i < 1000; i++) store.write(bytes(20 + (i % 90), i));
  expect(Math.max(...medium.eraseCounts) - Math.min(...medium.eraseCounts)).toBeLessThanOrEqual(1);
  expect(Math.min(...medium.eraseCounts)).toBeGreaterThan(10);
});

test("a flipped bit in the newest record falls back to the previous one and reports it", () => {
  const medium = flash();
  const store = new FlashRecordStore({ flash: medium });
  store.write(bytes(30, 1));
  store.write(bytes(30, 2));
  // The second entry starts at 44 (42 bytes rounded up to 4); flip a bit in its body.
  expect(medium.image[44 + 8 + 3]).toBe(2);
  medium.image[44 + 8 + 3] ^= 0x10;
  const log = new RecordingLog();
  const rebooted = new FlashRecordStore({ flash: medium, log });
  expect(rebooted.read()).toEqual(bytes(30, 1));
  expect(rebooted.recovered).toBe(true);
  expect(log.events("record-store-recovered")).toHaveLength(1);
  expect(log.events("record-store-recovered")[0].level).toBe("warn");
  // The store goes on: the next record is numbered past the damaged one and wins after reboot.
  rebooted.write(bytes(30, 3));
  const again = new FlashRecordStore({ flash: medium });
  expect(again.read()).toEqual(bytes(30, 3));
  expect(again.recovered).toBe(false);
});

test("a flipped bit in the only record leaves no record, reported", () => {
  const medium = flash();
  new FlashRecordStore({ flash: medium }).write(bytes(30, 1));
  medium.image[0 + 8] ^= 1;
  const rebooted = new FlashRecordStore({ flash: medium });
  expect(rebooted.read()).toBeUndefined();
  expect(rebooted.recovered).toBe(true);
});

test("a record bigger than a sector is refused with a typed error and the old record kept", () => {
  const medium = flash(3, 256);
  const store = new FlashRecordStore({ flash: medium });
  store.write(bytes(10, 1));
  expect(store.maxRecordBytes).toBe(244);
  store.write(bytes(244, 2));
  expectStorageError(() => store.write(bytes(245, 3)), "record-too-large");
  expect(store.read()).toEqual(bytes(244, 2));
  expect(new FlashRecordStore({ flash: medium }).read()).toEqual(bytes(244, 2));
});

/**
 * A flash that, once told to, flips the lowest bit of the last byte of every write (on erased
 * flash the stored byte always differs) and leaves a zero byte in every sector it erases.
 */
class LossyFlash implements Flash {
  lossy = false;
  constructor(readonly inner: SimulatedNorFlash) {}
  get sectorSize() {
    return this.inner.sectorSize;
  }
  get size() {
    return this.inner.size;
  }
  read(offset: number, length: number) {
    return this.inner.read(offset, length);
  }
  write(offset: number, data: Uint8Array) {
    const written = data.slice();
    if (this.lossy) written[written.length - 1] ^= 1;
    this.inner.write(offset, written);
  }
  erase(sector: number) {
    this.inner.erase(sector);
    if (this.lossy) this.inner.write(sector * this.sectorSize + 5, new Uint8Array(1));
  }
}

test("a flash that does not read back what was written gives a typed error and keeps the old record", () => {
  const medium = flash(3, 256);
  const lossy = new LossyFlash(medium);
  const store = new FlashRecordStore({ flash: lossy });
  store.write(bytes(100, 1));
  lossy.lossy = true;
  // The first fits after the old record (the write fails), the second needs an erase (which fails).
  for (const attempt of [bytes(50, 2), bytes(200, 4)]) {
    expectStorageError(() => store.write(attempt), "verify-failed");
    expect(store.read()).toEqual(bytes(100, 1));
    expect(new FlashRecordStore({ flash: medium }).read()).toEqual(bytes(100, 1));
  }
  lossy.lossy = false;
  store.write(bytes(60, 5));
  expect(new FlashRecordStore({ flash: medium }).read()).toEqual(bytes(60, 5));
});

test("a flash region smaller than two sectors is refused", () => {
  expectStorageError(() => new FlashRecordStore({ flash: flash(1, 256) }), "invalid-options");
});

test("the store appends after a write that a power cut left half done, without a reboot", () => {
  const medium = flash();
  const store = new FlashRecordStore({ flash: medium });
  store.write(bytes(20, 1));
  medium.cutPowerAfterBytes(10);
  expect(() => store.write(bytes(20, 2))).toThrow("power cut");
  medium.restorePower();
  store.write(bytes(20, 3));
  expect(new FlashRecordStore({ flash: medium }).read()).toEqual(bytes(20, 3));
});
