/**
 * The exhaustive power-cut check of a RecordStore, portable so the same code runs under jest and
 * in XS. It runs a plan of saves (a record, or undefined for `clear`) and, for every save, replays
 * it from a copy of the medium taken just before, once per cut point (every byte written and
 * every erase for flash, every step for preferences). After each cut it reboots (a new store over
 * the same medium) and requires the record from before the save or the one being saved, then a
 * few more saves that must work and survive another reboot.
 */
import type { RecordStore } from "../../sdk/ports";
import { sameBytes } from "../../sdk/storage/entry";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { PreferenceRecordStore } from "../../sdk/storage/preference-record-store";
import { FakePreference } from "./fake-preference";
import { PowerCutError, SimulatedNorFlash } from "./simulated-nor-flash";
import { SeededRandom } from "./seeded-random";

export type Save = Uint8Array | undefined;

export interface CutPoint<M> {
  label: string;
  arm(medium: M): void;
}

/** How the sweep drives one kind of medium. */
export interface PowerCutRig<M extends { restorePower(): void }> {
  create(): M;
  /** An independent copy; `seed` varies the garbage a cut leaves. */
  clone(medium: M, seed: number): M;
  open(medium: M): RecordStore;
  /** Counters of work done (bytes written, erases...), read before and after each save. */
  counters(medium: M): number[];
  /** Every cut point of a save that did `work` (counters after minus before). */
  cutPoints(work: number[]): CutPoint<M>[];
}

export interface SweepReport {
  saves: number;
  cutPoints: number;
}

function same(a: Save, b: Save): boolean {
  return a === undefined || b === undefined ? a === b : sameBytes(a, b);
}

function describe(record: Save): string {
  return record === undefined ? "no record" : `a record of ${record.length} bytes starting ${record[0]}`;
}

function apply(store: RecordStore, save: Save): void {
  if (save === undefined) store.clear();
  else store.write(save);
}

function expectRecord(store: RecordStore, expected: Save, context: string): void {
  const actual = store.read();
  if (!same(actual, expected)) throw new Error(`${context}: expected ${describe(expected)}, read ${describe(actual)}`);
}

/** `count` records of sizes spread over 1..maxSize, distinct contents, with a clear every 17th. */
export function planSaves(count: number, maxSize: number, seed = 7): Save[] {
  const random = new SeededRandom(seed);
  const saves: Save[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 17 === 16) {
      saves.push(undefined);
      continue;
    }
    const record = new Uint8Array(1 + ((i * 89 + 13) % maxSize));
    random.fill(record);
    record[0] = i;
    saves.push(record);
  }
  return saves;
}

export function sweepPowerCuts<M extends { restorePower(): void }>(
  rig: PowerCutRig<M>,
  saves: readonly Save[],
  extras: readonly Uint8Array[],
): SweepReport {
  const medium = rig.create();
  const store = rig.open(medium);
  let previous: Save = undefined;
  let cutPoints = 0;
  saves.forEach((save, index) => {
    const snapshot = rig.clone(medium, index);
    const before = rig.counters(medium);
    apply(store, save);
    expectRecord(store, save, `save ${index} without a cut`);
    const work = rig.counters(medium).map((after, i) => after - before[i]);
    for (const cut of rig.cutPoints(work)) {
      const context = `save ${index}, ${cut.label}`;
      const trial = rig.clone(snapshot, ++cutPoints);
      const booted = rig.open(trial);
      expectRecord(booted, previous, `${context}, before the save`);
      cut.arm(trial);
      try {
        apply(booted, save);
        throw new Error(`${context}: the cut point was never reached`);
      } catch (error) {
        if (!(error instanceof PowerCutError)) throw error;
      }
      trial.restorePower();
      const rebooted = rig.open(trial);
      const found = rebooted.read();
      if (!same(found, previous) && !same(found, save))
        throw new Error(
          `${context}: after reboot read ${describe(found)}, neither ${describe(previous)} nor ${describe(save)}`,
        );
      for (const extra of extras) {
        rebooted.write(extra);
        expectRecord(rebooted, extra, `${context}, a later save`);
      }
      expectRecord(rig.open(trial), extras[extras.length - 1], `${context}, reboot after later saves`);
    }
    previous = save;
  });
  return { saves: saves.length, cutPoints };
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/** FlashRecordStore over a SimulatedNorFlash: a cut after every byte written and in every erase. */
export function flashRig(sectorSize: number, sectorCount: number): PowerCutRig<SimulatedNorFlash> {
  return {
    create: () => new SimulatedNorFlash({ sectorSize, sectorCount }),
    clone: (flash, seed) => flash.clone(seed),
    open: (flash) => new FlashRecordStore({ flash }),
    counters: (flash) => [flash.bytesWritten, flash.erases],
    cutPoints: ([bytes, erases]) => [
      ...range(bytes + 1).map((n) => ({
        label: `cut after ${n} of ${bytes} bytes written`,
        arm: (flash: SimulatedNorFlash) => flash.cutPowerAfterBytes(n),
      })),
      ...range(erases).map((n) => ({
        label: `cut during erase ${n + 1} of ${erases}`,
        arm: (flash: SimulatedNorFlash) => flash.cutPowerDuringErase(n),
      })),
    ],
  };
}

/** PreferenceRecordStore over a FakePreference: a cut before every step. */
export function preferenceRig(): PowerCutRig<FakePreference> {
  return {
    create: () => new FakePreference(),
    clone: (preference) => preference.clone(),
    open: (preference) => new PreferenceRecordStore({ preference, domain: "provisio", key: "identity" }),
    counters: (preference) => [preference.steps],
    cutPoints: ([steps]) =>
      range(steps).map((n) => ({
        label: `cut before step ${n + 1} of ${steps}`,
        arm: (preference: FakePreference) => preference.cutPowerAfterSteps(n),
      })),
  };
}
