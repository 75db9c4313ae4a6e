/**
 * A one-shot wake-up that may lie further ahead than the Clock port can express. Ticks wrap after
 * 2^31 ms (about 24.8 days) and a token lives 30 days, so a long delay is slept in steps well under
 * that, each measured with wrap-safe tick arithmetic, and the remainder re-armed.
 */
import type { Clock, TimerHandle } from "../ports";
import { ticksBetween } from "../ticks";

/** The longest single Clock timer armed: half the wrap, so a late firing still measures right. */
export const maxTimerStepMs = 0x40000000;

export class LongTimer {
  private readonly _clock: Clock;
  private _handle: TimerHandle | undefined;

  constructor(clock: Clock) {
    this._clock = clock;
  }

  get armed(): boolean {
    return this._handle !== undefined;
  }

  /** Calls `callback` once, `delayMs` from now, replacing any earlier wake-up. */
  set(delayMs: number, callback: () => void): void {
    this.clear();
    this._arm(Math.max(0, delayMs), callback);
  }

  clear(): void {
    if (this._handle !== undefined) this._clock.clearTimer(this._handle);
    this._handle = undefined;
  }

  private _arm(remainingMs: number, callback: () => void): void {
    const armedAt = this._clock.now();
    this._handle = this._clock.setTimer(Math.min(remainingMs, maxTimerStepMs), () => {
      this._handle = undefined;
      const left = remainingMs - Math.max(0, ticksBetween(armedAt, this._clock.now()));
      if (left > 0) this._arm(left, callback);
      else callback();
    });
  }
}
