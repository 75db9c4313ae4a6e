/**
 * The Clock port on `Time.ticks` (a signed 32-bit millisecond count that wraps; the core compares
 * ticks with sdk/ticks.ts only) and one-shot `Timer.set`.
 */
import type { Clock, TimerHandle } from "provisio-sdk";
import Time from "time";
import Timer from "timer";
import { guarded } from "./guard";

/** A pending wake-up; `timer` is gone once it fired or was cleared, so it is never cleared twice. */
interface ModdableTimer {
  timer: Timer | undefined;
}

export const moddableClock: Clock = Object.freeze({
  now: () => Time.ticks,
  setTimer(delayMs, callback): TimerHandle {
    const handle: ModdableTimer = { timer: undefined };
    handle.timer = Timer.set(
      () => {
        handle.timer = undefined;
        guarded("timer", callback);
      },
      Math.max(0, delayMs),
    );
    return handle;
  },
  clearTimer(handle) {
    const pending = handle as ModdableTimer | undefined;
    if (!pending?.timer) return;
    Timer.clear(pending.timer);
    pending.timer = undefined;
  },
});
