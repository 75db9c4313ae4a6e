/** The Random port on Node's Web Crypto. */
import { webcrypto } from "node:crypto";
import type { Random } from "../../sdk/ports";

/** getRandomValues fills at most 65536 bytes a call. */
const CHUNK = 65536;

export const nodeRandom: Random = {
  fill(bytes: Uint8Array): void {
    for (let offset = 0; offset < bytes.length; offset += CHUNK)
      webcrypto.getRandomValues(bytes.subarray(offset, offset + CHUNK));
  },
};
