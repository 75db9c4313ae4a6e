import type { Random } from "./ports";

export interface BackoffOptions {
  /** Ceiling of the first delay, ms; default 1000. */
  initialDelayMs?: number;
  /** Largest ceiling, ms; default 300000 (5 min). */
  maxDelayMs?: number;
}

/**
 * Exponential backoff with full jitter: attempt n waits random(0 .. min(max, initial * 2^n)).
 * Full jitter spreads a fleet that lost its broker at the same moment over the whole window.
 */
export class Backoff {
  private readonly _random: Random;
  private readonly _initial: number;
  private readonly _max: number;
  private _ceiling = 0;

  constructor(random: Random, options: BackoffOptions = {}) {
    this._random = random;
    this._initial = options.initialDelayMs ?? 1000;
    this._max = options.maxDelayMs ?? 300000;
    this.reset();
  }

  /** The delay before the next attempt, ms; grows the ceiling for the one after. */
  next(): number {
    const word = new Uint32Array(1);
    this._random.fill(new Uint8Array(word.buffer));
    const delay = Math.floor((word[0] / 0x100000000) * (this._ceiling + 1));
    this._ceiling = Math.min(this._max, this._ceiling * 2);
    return delay;
  }

  /** After a success: the next delay is drawn from the first window again. */
  reset(): void {
    this._ceiling = Math.min(this._initial, this._max);
  }
}
