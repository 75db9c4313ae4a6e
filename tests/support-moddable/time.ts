/**
 * Fake of Moddable's `time`: `ticks` is a signed 32-bit millisecond count that wraps at 2^31, moved
 * only by the host (see timer.ts). It starts a few seconds before the wrap so every run crosses it.
 */
let ticks = 0x7fffffff - 3000;
let secondsOffset = 0;

/** Moves the tick count; used by the fake timer only. */
export function advanceTicks(ms: number): void {
  ticks = (ticks + ms) | 0;
}

const Time = {
  get ticks(): number {
    return ticks;
  },
  delta(start: number, end: number = ticks): number {
    return (end - start) | 0;
  },
  /** Sets the wall clock, as the app does after SNTP. */
  set(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new Error("Time.set: invalid seconds");
    secondsOffset = seconds;
  },
  get wallSeconds(): number {
    return secondsOffset;
  },
  timezone: 0,
  dst: 0,
};

export default Time;
