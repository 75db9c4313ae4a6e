/**
 * The record stores in both engines: a lighter run of the exhaustive power-cut sweep (every byte
 * and erase of 12 saves; the full one is tests/storage/power-cuts.test.ts) and bit rot.
 */
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { PreferenceRecordStore } from "../../sdk/storage/preference-record-store";
import { FakePreference } from "../../testkit/device/fake-preference";
import { flashRig, planSaves, preferenceRig, sweepPowerCuts } from "../../testkit/device/power-cut-sweep";
import { RecordingLog } from "../../testkit/device/recording-log";
import { SimulatedNorFlash } from "../../testkit/device/simulated-nor-flash";
import { scenario } from "./harness";

const extras = [new Uint8Array(90).fill(1), new Uint8Array(90).fill(2)];

scenario("storage: flash store keeps the old or the new record at every power cut", (check) => {
  const saves = planSaves(12, 90);
  const report = sweepPowerCuts(flashRig(128, 3), saves, extras);
  // At least one entry (12 bytes of overhead) and a read-back a save, and more than one erase.
  check.ok(report.cutPoints > saves.length * 12, `only ${report.cutPoints} cut points`);
});

scenario("storage: preference store keeps the old or the new record at every power cut", (check) => {
  const report = sweepPowerCuts(preferenceRig(), planSaves(20, 200), extras);
  check.ok(report.cutPoints >= 40, `only ${report.cutPoints} cut points`);
});

scenario("storage: a flipped bit in the newest record falls back to the previous one", (check) => {
  const flash = new SimulatedNorFlash({ sectorSize: 128, sectorCount: 2 });
  const store = new FlashRecordStore({ flash });
  store.write(Uint8Array.of(1, 2, 3));
  store.write(Uint8Array.of(4, 5, 6));
  // The second entry starts at 16 (15 bytes rounded up to 4); its body at 24.
  flash.image[24 + 1] ^= 0x80;
  const log = new RecordingLog();
  const rebooted = new FlashRecordStore({ flash, log });
  check.deepEqual(rebooted.read(), Uint8Array.of(1, 2, 3));
  check.equal(rebooted.recovered, true);
  check.equal(log.events("record-store-recovered").length, 1);

  const preference = new FakePreference();
  const options = { preference, domain: "provisio", key: "identity" };
  const prefStore = new PreferenceRecordStore(options);
  prefStore.write(Uint8Array.of(1));
  prefStore.write(Uint8Array.of(2));
  new Uint8Array(preference.values.get("provisio\u0000identity1") as ArrayBuffer)[8] ^= 1;
  const prefRebooted = new PreferenceRecordStore(options);
  check.deepEqual(prefRebooted.read(), Uint8Array.of(1));
  check.equal(prefRebooted.recovered, true);
});
