import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { NorFlashFile, PowerCutError } from "../../targets/node/nor-flash-file";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "provisio-flash-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const geometry = { sectorSize: 256, sectorCount: 3 };
const bytes = (length: number, fill: number) => new Uint8Array(length).fill(fill);

test("a new image is erased flash, and writes only clear bits", () => {
  const path = join(dir, "flash.bin");
  const flash = new NorFlashFile({ path, ...geometry });
  expect(readFileSync(path)).toEqual(Buffer.alloc(768, 0xff));
  flash.write(10, Uint8Array.of(0b1010_1010));
  flash.write(10, Uint8Array.of(0b1100_1100));
  expect(new NorFlashFile({ path, ...geometry }).read(10, 1)).toEqual(Uint8Array.of(0b1000_1000));
});

test("records, contents and erase counts persist across instances", () => {
  const path = join(dir, "state", "flash.bin");
  const store = new FlashRecordStore({ flash: new NorFlashFile({ path, ...geometry }) });
  for (let i = 0; i < 20; i++) store.write(bytes(100, i));
  const reopened = new NorFlashFile({ path, ...geometry });
  expect(new FlashRecordStore({ flash: reopened }).read()).toEqual(bytes(100, 19));
  expect(reopened.eraseCounts.reduce((a, b) => a + b)).toBe(10);
  expect(JSON.parse(readFileSync(`${path}.wear.json`, "utf8"))).toEqual(reopened.eraseCounts);
});

test("a power cut mid-write is persisted half done; the next instance recovers the old record", () => {
  const path = join(dir, "flash.bin");
  const flash = new NorFlashFile({ path, ...geometry });
  const store = new FlashRecordStore({ flash });
  store.write(bytes(50, 1));
  flash.cutPowerAfterBytes(30);
  expect(() => store.write(bytes(50, 2))).toThrow(PowerCutError);
  const image = readFileSync(path);
  // The second entry starts at 64: its first 30 bytes reached the file, the rest did not.
  expect(image[64 + 29]).toBe(2);
  expect(image[64 + 31]).toBe(0xff);
  const rebooted = new FlashRecordStore({ flash: new NorFlashFile({ path, ...geometry }) });
  expect(rebooted.read()).toEqual(bytes(50, 1));
  expect(rebooted.recovered).toBe(true);
});

test("a power cut during an erase leaves the sector partly erased on disk", () => {
  const path = join(dir, "flash.bin");
  const flash = new NorFlashFile({ path, ...geometry, seed: 5 });
  flash.write(256, bytes(256, 0));
  flash.cutPowerDuringErase(0);
  expect(() => flash.erase(1)).toThrow(PowerCutError);
  const sector = readFileSync(path).subarray(256, 512);
  // Neither the old contents (all 0) nor an erased sector (all 0xFF).
  expect(sector.some((b) => b !== 0)).toBe(true);
  expect(sector.some((b) => b !== 0xff)).toBe(true);
  expect(JSON.parse(readFileSync(`${path}.wear.json`, "utf8"))).toEqual([0, 1, 0]);
});

test("an image of the wrong size is refused", () => {
  const path = join(dir, "flash.bin");
  new NorFlashFile({ path, ...geometry });
  expect(() => new NorFlashFile({ path, sectorSize: 256, sectorCount: 4 })).toThrow("not 4 sectors");
});
