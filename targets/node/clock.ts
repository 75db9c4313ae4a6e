/** The Clock port on Node: `performance.now()` wrapped to a signed 32-bit tick like Moddable's `Time.ticks`. */
import { performance } from "node:perf_hooks";
import type { Clock, TimerHandle } from "../../sdk/ports";

export const nodeClock: Clock = {
  now: () => Math.floor(performance.now()) | 0,
  setTimer: (delayMs: number, callback: () => void): TimerHandle => setTimeout(callback, delayMs),
  clearTimer: (handle: TimerHandle) => clearTimeout(handle as NodeJS.Timeout),
};
