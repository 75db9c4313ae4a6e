/** A deterministic Random for tests (xorshift32): the same seed gives the same bytes everywhere. */
import type { Random } from "../../sdk/ports";

export class SeededRandom implements Random {
  #state: number;

  constructor(seed = 0x2545f491) {
    this.#state = seed | 0 || 1;
  }

  fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      let x = this.#state;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#state = x;
      bytes[i] = x >>> 24;
    }
  }
}
