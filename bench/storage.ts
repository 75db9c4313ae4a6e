/**
 * The flash record store's cost: flash bytes written and erases per token save (the goal is one
 * entry written a save and an erase only every N saves), the wear spread over the sectors after
 * 10,000 saves, and the record stores' code size in the device bundle (sdk/storage alone,
 * minified). On a 16 KB region of four 4 KB sectors, as an ESP32 partition would give, with a
 * 320-byte record, about the size of the device's identity. Run alone: `npm run bench -- storage`.
 */
import { gzipSync } from "node:zlib";
import { FlashRecordStore } from "../sdk/storage/flash-record-store";
import { PreferenceRecordStore } from "../sdk/storage/preference-record-store";
import { bundleSdk } from "../scripts/build";
import { FakePreference } from "../testkit/device/fake-preference";
import { SimulatedNorFlash } from "../testkit/device/simulated-nor-flash";
import type { BenchReport } from "./run";

const sectorSize = 4096;
const sectorCount = 4;
const recordBytes = 320;
const saves = 10_000;

export async function run(): Promise<BenchReport> {
  const flash = new SimulatedNorFlash({ sectorSize, sectorCount });
  const store = new FlashRecordStore({ flash });
  const record = new Uint8Array(recordBytes);
  for (let i = 0; i < saves; i++) {
    record[0] = i;
    store.write(record);
  }
  if (new FlashRecordStore({ flash }).read()?.[0] !== (saves - 1) % 256)
    throw new Error("the last record did not survive");
  const bytesPerSave = flash.bytesWritten / saves;
  const savesPerErase = Math.round((saves / flash.erases) * 10) / 10;
  const wear = {
    min: Math.min(...flash.eraseCounts),
    max: Math.max(...flash.eraseCounts),
    perSector: flash.eraseCounts.slice(),
  };

  const preference = new FakePreference();
  const preferenceStore = new PreferenceRecordStore({ preference, domain: "provisio", key: "identity" });
  for (let i = 0; i < 100; i++) preferenceStore.write(record);
  const preferenceStepsPerSave = preference.steps / 100;

  const code = Buffer.from(await bundleSdk("sdk/storage/index.ts"));
  const codeSize = { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
  return {
    name: "storage",
    results: {
      geometry: { sectorSize, sectorCount, recordBytes, saves },
      flash: { bytesPerSave, savesPerErase, wear },
      preferenceStepsPerSave,
      codeSize,
    },
    summary:
      `a ${recordBytes}-byte save writes ${bytesPerSave} flash bytes (one entry), an erase every ${savesPerErase} saves; ` +
      `erases per sector after ${saves} saves min ${wear.min} max ${wear.max}; ` +
      `sdk/storage ${(codeSize.minified / 1024).toFixed(1)} KB minified, ${(codeSize.gzip / 1024).toFixed(1)} KB gzip`,
  };
}
