/**
 * Fake of Moddable's `time`: `ticks` as the platform has them (runtime-esp32.ts: 32-bit, wrapping;
 * runtime-lin.ts: epoch milliseconds), moved only by the host (see timer.ts).
 */
import { firstTicks, wrapTicks } from "moddable-runtime";

let ticks = firstTicks();
let secondsOffset = 0;

/** Moves the tick count; used by the fake timer only. */
export function advanceTicks(ms: number): void {
  ticks = wrapTicks(ticks + ms);
}

const Time = {
  get ticks(): number {
    return ticks;
  },
  delta(start: number, end: number = ticks): number {
    return wrapTicks(end - start);
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
