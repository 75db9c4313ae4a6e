/**
 * Moddable's `preference` module as a fake that enforces the real limits: domain and key at most
 * 15 bytes, values boolean, int32, string up to 4000 bytes or ArrayBuffer (a Uint8Array is
 * refused), and `set` erases the old value before it writes the new one. Power cuts on demand:
 * before the Nth step from now (a step is the erase or the write of a `set`, or a `delete`), so a
 * cut between the two halves of a `set` leaves the key missing. Portable, for XS scenarios too.
 */
import type { Preference, PreferenceValue } from "../../sdk/storage/preference-record-store";
import { utf8Encode } from "../../sdk/utf8";
import { PowerCutError } from "./simulated-nor-flash";

const maxNameBytes = 15;
const maxValueBytes = 4000;

function copy(value: PreferenceValue): PreferenceValue {
  return value instanceof ArrayBuffer ? value.slice(0) : value;
}

export class FakePreference implements Preference {
  /** Stored values by `domain` + NUL + `key`; tests corrupt them here. */
  readonly values: Map<string, PreferenceValue>;
  /** Steps done since construction. */
  steps = 0;
  #stepsBeforeCut: number | undefined;
  #powerCut = false;
  /** When set, `get` returns this instead of the stored value: a medium that reads back wrong. */
  readBack: ((value: PreferenceValue) => PreferenceValue) | undefined;

  constructor(values?: ReadonlyMap<string, PreferenceValue>) {
    this.values = new Map();
    if (values) for (const [name, value] of values) this.values.set(name, copy(value));
  }

  /** The same values, power on, no cut pending. */
  clone(): FakePreference {
    return new FakePreference(this.values);
  }

  /** The power fails instead of the step after `steps` more. */
  cutPowerAfterSteps(steps: number): void {
    this.#stepsBeforeCut = steps;
  }

  restorePower(): void {
    this.#powerCut = false;
    this.#stepsBeforeCut = undefined;
  }

  get(domain: string, key: string): PreferenceValue | undefined {
    const value = this.values.get(this.#name(domain, key));
    if (value === undefined) return undefined;
    return this.readBack ? this.readBack(copy(value)) : copy(value);
  }

  set(domain: string, key: string, value: PreferenceValue): void {
    const name = this.#name(domain, key);
    if (value instanceof ArrayBuffer) {
      if (value.byteLength > maxValueBytes) throw new RangeError(`preference buffer over ${maxValueBytes} bytes`);
    } else if (typeof value === "string") {
      if (utf8Encode(value).length > maxValueBytes)
        throw new RangeError(`preference string over ${maxValueBytes} bytes`);
    } else if (typeof value === "number") {
      if ((value | 0) !== value) throw new RangeError("preference numbers are int32");
    } else if (typeof value !== "boolean") {
      throw new TypeError("preference values are boolean, int32, string or ArrayBuffer (not a typed array)");
    }
    this.#step();
    this.values.delete(name);
    this.#step();
    this.values.set(name, copy(value));
  }

  delete(domain: string, key: string): void {
    const name = this.#name(domain, key);
    this.#step();
    this.values.delete(name);
  }

  #name(domain: string, key: string): string {
    if (this.#powerCut) throw new PowerCutError();
    for (const name of [domain, key])
      if (name.length === 0 || utf8Encode(name).length > maxNameBytes)
        throw new RangeError(`preference name "${name}" is not 1-${maxNameBytes} bytes`);
    return `${domain}\u0000${key}`;
  }

  #step(): void {
    if (this.#stepsBeforeCut === 0) {
      this.#powerCut = true;
      throw new PowerCutError();
    }
    if (this.#stepsBeforeCut !== undefined) this.#stepsBeforeCut--;
    this.steps++;
  }
}
