/**
 * Fake of Moddable's `timer`. Time is virtual: the host's `advance` event moves `Time.ticks` and
 * fires due timers in order. Clearing a timer that fired or was cleared throws, as the strictest
 * reading of Moddable's `Timer.clear` of a freed one-shot timer. A callback's exception escapes,
 * as on a device, where it restarts the board.
 */
import { onHostEvent } from "./host";
import { wrapTicks } from "moddable-runtime";
import Time, { advanceTicks } from "./time";

interface FakeTimer {
  callback: (timer: FakeTimer) => void;
  due: number;
  /** Milliseconds between repeats; 0 for one-shot. */
  interval: number;
  live: boolean;
}

let timers: FakeTimer[] = [];

function add(callback: (timer: FakeTimer) => void, delay: number, interval: number): FakeTimer {
  if (typeof callback !== "function") throw new TypeError("Timer: callback is not a function");
  if (!(delay >= 0) || !Number.isFinite(delay)) throw new RangeError("Timer: invalid interval");
  const timer: FakeTimer = { callback, due: wrapTicks(Time.ticks + Math.floor(delay)), interval, live: true };
  timers.push(timer);
  return timer;
}

const Timer = {
  set: (callback: (timer: FakeTimer) => void, delay = 0, repeat = 0) => add(callback, delay, repeat),
  repeat: (callback: (timer: FakeTimer) => void, interval: number) => add(callback, interval, interval),
  clear(timer: FakeTimer | undefined | null): void {
    if (!timer) return;
    if (!timer.live) throw new Error("Timer.clear: timer already fired or cleared");
    timer.live = false;
    timers = timers.filter((t) => t !== timer);
  },
};

/** The next live timer due by `until`, earliest first (ties in creation order). */
function nextDue(until: number): FakeTimer | undefined {
  let next: FakeTimer | undefined;
  for (const timer of timers)
    if (timer.live && Time.delta(timer.due, until) >= 0 && (!next || Time.delta(timer.due, next.due) > 0)) next = timer;
  return next;
}

let yieldToHost = false;

/**
 * Ends the current advance after the timer that runs now: what the host did meanwhile (a socket's
 * events) comes first, as a real event loop looks at its sockets between timers. The socket fake
 * asks for it when a socket closes, so that a wait for the socket's last messages can work.
 */
export function yieldAfterThisTimer(): void {
  yieldToHost = true;
}

/**
 * Moves virtual time forward by `ms`, firing every timer due on the way at its own tick; stops
 * early, at the tick of the timer that asked (yieldAfterThisTimer).
 */
export function advance(ms: number): void {
  const until = wrapTicks(Time.ticks + ms);
  yieldToHost = false;
  for (let timer = nextDue(until); timer; timer = nextDue(until)) {
    const wait = Time.delta(Time.ticks, timer.due);
    if (wait > 0) advanceTicks(wait);
    if (timer.interval > 0) timer.due = wrapTicks(timer.due + timer.interval);
    else {
      timer.live = false;
      timers = timers.filter((t) => t !== timer);
    }
    timer.callback(timer);
    if (yieldToHost) return;
  }
  advanceTicks(Time.delta(Time.ticks, until));
}

export function pendingTimers(): number {
  return timers.length;
}

onHostEvent("advance", (event) => advance(event.ms as number));

export default Timer;
