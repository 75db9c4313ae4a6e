/**
 * Fake of Moddable's `preference` (NVS on ESP32), kept in the XS heap, with the real limits: domain
 * and key at most 15 characters; values boolean, int32, string up to 4000 bytes, or ArrayBuffer
 * (not a typed array) up to 4000 bytes. `get` returns a copy, as NVS does.
 */
export const maxNameLength = 15;
export const maxValueBytes = 4000;

type Value = boolean | number | string | ArrayBuffer;
const values = new Map<string, Value>();

function slot(domain: string, key: string): string {
  for (const name of [domain, key])
    if (typeof name !== "string" || name.length === 0 || name.length > maxNameLength) throw new RangeError(`preference: name "${name}" must be 1-15 characters`);
  return `${domain}\u0000${key}`;
}

const copy = (value: Value) => (value instanceof ArrayBuffer ? value.slice(0) : value);

const Preference = {
  set(domain: string, key: string, value: Value): void {
    const name = slot(domain, key);
    if (typeof value === "number" && !(Number.isInteger(value) && value === (value | 0))) throw new RangeError("preference: numbers are int32");
    else if (typeof value === "string" && new TextEncoder().encode(value).length > maxValueBytes) throw new RangeError("preference: string too long");
    else if (value instanceof ArrayBuffer && value.byteLength > maxValueBytes) throw new RangeError("preference: buffer too long");
    else if (typeof value !== "boolean" && typeof value !== "number" && typeof value !== "string" && !(value instanceof ArrayBuffer))
      throw new TypeError("preference: value must be boolean, int32, string or ArrayBuffer");
    values.set(name, copy(value));
  },
  get(domain: string, key: string): Value | undefined {
    const value = values.get(slot(domain, key));
    return value === undefined ? undefined : copy(value);
  },
  delete(domain: string, key: string): void {
    values.delete(slot(domain, key));
  },
  keys(domain: string): string[] {
    slot(domain, "k");
    const prefix = `${domain}\u0000`;
    return [...values.keys()].filter((name) => name.startsWith(prefix)).map((name) => name.slice(prefix.length));
  },
};

export default Preference;
