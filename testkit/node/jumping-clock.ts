/**
 * A real-time clock that a test can also move forward at once, as the platform's `advanceClock`
 * moves its own: timers run on Node's, and `advance` fires every timer the jump makes due. For
 * long token lifetimes in end-to-end tests, where the network must still run in real time.
 */
import type { Clock, TimerHandle } from "../../sdk/ports";

interface JumpingTimer {
  at: number;
  callback: () => void;
  timeout: NodeJS.Timeout;
}

export class JumpingClock implements Clock {
  #offset = 0;
  readonly #timers = new Set<JumpingTimer>();

  now(): number {
    return Date.now() + this.#offset;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer: JumpingTimer = { at: this.now() + delayMs, callback, timeout: undefined! };
    this.#arm(timer);
    this.#timers.add(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as JumpingTimer;
    clearTimeout(timer.timeout);
    this.#timers.delete(timer);
  }

  /** Timers waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`: the timers that fall due fire now, the others are rearmed. */
  advance(ms: number): void {
    this.#offset += ms;
    for (const timer of this.#timers) {
      clearTimeout(timer.timeout);
      this.#arm(timer);
    }
  }

  #arm(timer: JumpingTimer): void {
    timer.timeout = setTimeout(
      () => {
        this.#timers.delete(timer);
        timer.callback();
      },
      Math.max(0, timer.at - this.now()),
    );
  }
}
