/**
 * The exhaustive power-cut checks: every byte written and every erase of 60 saves over small
 * sectors for the flash store, every step of 60 saves for the preference store.
 */
import { flashRig, planSaves, preferenceRig, sweepPowerCuts } from "../../testkit/device/power-cut-sweep";

const sectorSize = 256;
const sectorCount = 3;
const saves = planSaves(60, 200);
const extras = [new Uint8Array(150).fill(1), new Uint8Array(150).fill(2), new Uint8Array(10).fill(3)];

test("the plan crosses sectors, garbage collections and clears", () => {
  expect(saves.length).toBeGreaterThanOrEqual(50);
  expect(saves.filter((s) => s === undefined).length).toBeGreaterThanOrEqual(3);
  const sizes = saves.flatMap((s) => (s ? [s.length] : []));
  expect(Math.max(...sizes)).toBeGreaterThan(sectorSize / 2);
  expect(Math.min(...sizes)).toBeLessThan(20);
});

// Other geometries put entry boundaries, sector ends and rotations at other places in the plan.
test.each([
  [sectorSize, sectorCount],
  [sectorSize, 2],
  [224, 4],
])(
  "flash store (%i-byte sectors x %i): a power cut at any byte or erase leaves the old record or the new one",
  (size, count) => {
    const report = sweepPowerCuts(flashRig(size, count), saves, extras);
    // Every save writes at least one entry (12 bytes of overhead) and 60 saves rotate many times.
    expect(report.cutPoints).toBeGreaterThan(saves.length * 12);
  },
);

test("preference store: a power cut at any step leaves the old record or the new one", () => {
  const report = sweepPowerCuts(preferenceRig(), saves, extras);
  expect(report.cutPoints).toBeGreaterThanOrEqual(saves.length * 2);
});
