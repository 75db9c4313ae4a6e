/**
 * Randomness for the Moddable simulator (lin, mac): the host's /dev/urandom through the `file`
 * module. There Math.random() is the C library's rand(), never seeded: every run of the simulator
 * would make the same device key. When /dev/urandom cannot be read this throws, and the device
 * makes no key at all rather than a predictable one.
 */
import { File } from "file";
import type { PlatformRandom } from "./platform";

const source = "/dev/urandom";

export const urandom: PlatformRandom = {
  fill(bytes) {
    let read: ArrayBuffer | undefined;
    try {
      const file = new File(source);
      try {
        read = file.read(ArrayBuffer, bytes.length);
      } finally {
        file.close();
      }
    } catch (error) {
      throw new Error(
        `no random source: ${source} cannot be read (${error instanceof Error ? error.message : String(error)}), so no key is made`,
        { cause: error },
      );
    }
    if (!(read instanceof ArrayBuffer) || read.byteLength !== bytes.length)
      throw new Error(`no random source: ${source} gave too few bytes, so no key is made`);
    bytes.set(new Uint8Array(read));
  },
};
