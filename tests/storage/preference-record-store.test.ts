import { StorageError } from "../../sdk/storage/errors";
import { PreferenceRecordStore } from "../../sdk/storage/preference-record-store";
import { FakePreference } from "../../testkit/device/fake-preference";
import { RecordingLog } from "../../testkit/device/recording-log";

const bytes = (length: number, fill: number) => new Uint8Array(length).fill(fill);
const open = (preference: FakePreference, log?: RecordingLog) =>
  new PreferenceRecordStore({ preference, domain: "provisio", key: "identity", log });

function storageErrorCode(action: () => void): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof StorageError) return error.code;
    throw error;
  }
  return undefined;
}

describe("the fake preference module enforces Moddable's limits", () => {
  const preference = new FakePreference();
  test.each([
    ["a key over 15 bytes", () => preference.set("provisio", "k".repeat(16), 1)],
    ["a domain over 15 bytes", () => preference.get("d".repeat(16), "key")],
    ["a key of 15 bytes counted in UTF-8", () => preference.set("provisio", "é".repeat(8), 1)],
    ["a Uint8Array", () => preference.set("provisio", "key", new Uint8Array(4) as unknown as ArrayBuffer)],
    ["a float", () => preference.set("provisio", "key", 1.5)],
    ["a number beyond int32", () => preference.set("provisio", "key", 2 ** 31)],
    ["a string over 4000 bytes", () => preference.set("provisio", "key", "€".repeat(1334))],
  ])("refuses %s", (_name, action) => {
    expect(action).toThrow();
  });

  test("accepts the limits themselves and returns copies of buffers", () => {
    preference.set("d".repeat(15), "k".repeat(15), new ArrayBuffer(4000));
    preference.set("provisio", "int", -(2 ** 31));
    preference.set("provisio", "text", "€".repeat(1333));
    const value = preference.get("d".repeat(15), "k".repeat(15)) as ArrayBuffer;
    new Uint8Array(value)[0] = 1;
    expect(new Uint8Array(preference.get("d".repeat(15), "k".repeat(15)) as ArrayBuffer)[0]).toBe(0);
  });

  test("a power cut between the erase and the write of a set leaves the key missing", () => {
    const cut = new FakePreference();
    cut.set("provisio", "key", "old");
    cut.cutPowerAfterSteps(1);
    expect(() => cut.set("provisio", "key", "new")).toThrow("power cut");
    cut.restorePower();
    expect(cut.get("provisio", "key")).toBeUndefined();
  });
});

test("records alternate between two keys holding ArrayBuffers, and survive a reboot", () => {
  const preference = new FakePreference();
  const store = open(preference);
  expect(store.read()).toBeUndefined();
  store.write(bytes(20, 1));
  store.write(bytes(30, 2));
  expect([...preference.values.keys()].sort()).toEqual(["provisio\u0000identity0", "provisio\u0000identity1"]);
  for (const value of preference.values.values()) expect(value).toBeInstanceOf(ArrayBuffer);
  store.write(bytes(40, 3));
  expect(open(preference).read()).toEqual(bytes(40, 3));
});

test("a flipped bit in the newest record falls back to the previous one and reports it", () => {
  const preference = new FakePreference();
  const store = open(preference);
  store.write(bytes(20, 1));
  store.write(bytes(20, 2));
  new Uint8Array(preference.values.get("provisio\u0000identity1") as ArrayBuffer)[12] ^= 4;
  const log = new RecordingLog();
  const rebooted = open(preference, log);
  expect(rebooted.read()).toEqual(bytes(20, 1));
  expect(rebooted.recovered).toBe(true);
  expect(log.events("record-store-recovered")).toHaveLength(1);
  rebooted.write(bytes(20, 3));
  // The damaged key is the one overwritten; the record before stays as the fallback.
  expect(open(preference).read()).toEqual(bytes(20, 3));
  expect(open(preference).recovered).toBe(false);
});

test("clear removes both keys and survives a reboot", () => {
  const preference = new FakePreference();
  const store = open(preference);
  store.write(bytes(20, 1));
  store.write(bytes(20, 2));
  store.clear();
  expect(store.read()).toBeUndefined();
  expect(preference.values.size).toBe(0);
  expect(open(preference).read()).toBeUndefined();
  store.write(bytes(3, 3));
  expect(open(preference).read()).toEqual(bytes(3, 3));
});

test("an oversized record is refused with a typed error and the old record kept", () => {
  const preference = new FakePreference();
  const store = open(preference);
  store.write(bytes(10, 1));
  store.write(bytes(store.maxRecordBytes, 2));
  expect(storageErrorCode(() => store.write(bytes(store.maxRecordBytes + 1, 3)))).toBe("record-too-large");
  expect(open(preference).read()).toEqual(bytes(store.maxRecordBytes, 2));
});

test("a value that does not read back as written gives a typed error and keeps the old record", () => {
  const preference = new FakePreference();
  const store = open(preference);
  store.write(bytes(10, 1));
  preference.readBack = (value) => (value instanceof ArrayBuffer ? value.slice(1) : value);
  expect(storageErrorCode(() => store.write(bytes(10, 2)))).toBe("verify-failed");
  preference.readBack = undefined;
  expect(store.read()).toEqual(bytes(10, 1));
  expect(open(preference).read()).toEqual(bytes(10, 1));
  store.write(bytes(10, 4));
  expect(open(preference).read()).toEqual(bytes(10, 4));
});

test("names the preference module cannot hold are refused up front", () => {
  const preference = new FakePreference();
  expect(
    storageErrorCode(() => new PreferenceRecordStore({ preference, domain: "provisio", key: "k".repeat(15) })),
  ).toBe("invalid-options");
  expect(storageErrorCode(() => new PreferenceRecordStore({ preference, domain: "d".repeat(16), key: "id" }))).toBe(
    "invalid-options",
  );
  expect(new PreferenceRecordStore({ preference, domain: "d".repeat(15), key: "k".repeat(14) }).read()).toBeUndefined();
});
