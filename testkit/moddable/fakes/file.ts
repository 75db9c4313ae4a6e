/**
 * Fake of Moddable's `file` as the simulator app uses it: only /dev/urandom, read with
 * `read(ArrayBuffer, count)`, bridged to the host's random bytes. The host can make it fail to
 * open, as on a system without /dev/urandom.
 */
import { base64urlDecode } from "../../../sdk/crypto/base64url";
import { askHost } from "./host";

export class File {
  #closed = false;

  constructor(path: string, write?: boolean) {
    if (path !== "/dev/urandom" || write)
      throw new Error(`file fake: only reading /dev/urandom is bridged, not ${path}`);
    if (!askHost<boolean>({ op: "urandom-available" })) throw new Error("file: open failed");
  }

  read(type: unknown, count: number): ArrayBuffer {
    if (this.#closed) throw new Error("file: closed");
    if (type !== ArrayBuffer || !(Number.isInteger(count) && count >= 0))
      throw new TypeError("file fake: read(ArrayBuffer, count) only");
    return base64urlDecode(askHost<string>({ op: "urandom", count }))!.slice().buffer;
  }

  close(): void {
    this.#closed = true;
  }
}
