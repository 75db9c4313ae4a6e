/**
 * A Clock whose time moves only when the test calls `advance`. Ticks wrap to 32 bits like
 * Moddable's `Time.ticks`: start near 2^31 to cross the wrap inside a test.
 */
import type { Clock, TimerHandle } from "../../sdk/ports";

interface VirtualTimer {
  /** Milliseconds since the clock was made: unwrapped, so timers order simply. */
  at: number;
  callback: () => void;
}

export class VirtualClock implements Clock {
  readonly #start: number;
  #elapsed = 0;
  readonly #timers: VirtualTimer[] = [];

  constructor(startTick = 0x7fffffff - 5000) {
    this.#start = startTick;
  }

  now(): number {
    return (this.#start + this.#elapsed) | 0;
  }

  /** The longest delay ever asked of `setTimer`: a real port cannot take 2^31 ms or more. */
  longestDelay = 0;

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    if (!(delayMs >= 0)) throw new Error(`setTimer: bad delay ${delayMs}`);
    this.longestDelay = Math.max(this.longestDelay, delayMs);
    const timer: VirtualTimer = { at: this.#elapsed + delayMs, callback };
    this.#timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const i = this.#timers.indexOf(handle as VirtualTimer);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Milliseconds until the earliest timer fires, or undefined when none is set. */
  nextTimerIn(): number | undefined {
    const next = this.#earliest();
    return next && next.at - this.#elapsed;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order of due time then creation. */
  advance(ms: number): void {
    const end = this.#elapsed + ms;
    for (let next = this.#earliest(); next && next.at <= end; next = this.#earliest()) {
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#elapsed = next.at;
      next.callback();
    }
    this.#elapsed = end;
  }

  #earliest(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.#timers) if (!best || t.at < best.at) best = t;
    return best;
  }
}
