/**
 * Fake of Moddable's `preference` with the real limits: domain and key at most 15 characters;
 * values boolean, int32, string up to 4000 bytes, or ArrayBuffer (not a typed array) up to 4000
 * bytes; `get` returns a copy. The values live on the host (NVS on a board, a JSON file on the
 * simulator), so they outlive the XS machine: a test restarts the app on the same preferences.
 */
import { base64urlDecode, base64urlEncode } from "../../../sdk/crypto/base64url";
import { askHost } from "./host";

export const maxNameLength = 15;
export const maxValueBytes = 4000;

type Value = boolean | number | string | ArrayBuffer;
/** How a value crosses to the host: an ArrayBuffer as base64url. */
export type StoredPreference = { buffer: string } | { value: boolean | number | string };

function check(domain: string, key: string): void {
  for (const name of [domain, key])
    if (typeof name !== "string" || name.length === 0 || name.length > maxNameLength)
      throw new RangeError(`preference: name "${name}" must be 1-15 characters`);
}

const Preference = {
  set(domain: string, key: string, value: Value): void {
    check(domain, key);
    if (typeof value === "number" && !(Number.isInteger(value) && value === (value | 0)))
      throw new RangeError("preference: numbers are int32");
    else if (typeof value === "string" && new TextEncoder().encode(value).length > maxValueBytes)
      throw new RangeError("preference: string too long");
    else if (value instanceof ArrayBuffer && value.byteLength > maxValueBytes)
      throw new RangeError("preference: buffer too long");
    else if (
      typeof value !== "boolean" &&
      typeof value !== "number" &&
      typeof value !== "string" &&
      !(value instanceof ArrayBuffer)
    )
      throw new TypeError("preference: value must be boolean, int32, string or ArrayBuffer");
    const stored: StoredPreference =
      value instanceof ArrayBuffer ? { buffer: base64urlEncode(new Uint8Array(value)) } : { value };
    askHost({ op: "preference-set", domain, key, stored });
  },
  get(domain: string, key: string): Value | undefined {
    check(domain, key);
    const stored = askHost<StoredPreference | null>({ op: "preference-get", domain, key });
    if (!stored) return undefined;
    return "buffer" in stored ? base64urlDecode(stored.buffer)!.slice().buffer : stored.value;
  },
  delete(domain: string, key: string): void {
    check(domain, key);
    askHost({ op: "preference-delete", domain, key });
  },
  keys(domain: string): string[] {
    check(domain, "k");
    return askHost<string[]>({ op: "preference-keys", domain });
  },
};

export default Preference;
