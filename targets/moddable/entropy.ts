/**
 * The device key's randomness on every Moddable platform: the host's own source, through the
 * project's native module "provisio-entropy" (native/provisio-entropy.c: esp_fill_random on the
 * ESP32, getrandom on Linux, arc4random_buf on macOS). When the source fails this throws, and the
 * device makes no key at all rather than a predictable one.
 */
import type { Random } from "provisio-sdk";
import { fill } from "provisio-entropy";

export const hostRandom: Random = Object.freeze({
  fill(bytes) {
    try {
      fill(bytes);
    } catch (error) {
      throw new Error(
        `no random source: ${error instanceof Error ? error.message : String(error)}, so no key is made`,
        { cause: error },
      );
    }
  },
});
