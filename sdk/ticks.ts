/**
 * Wrap-safe arithmetic on 32-bit millisecond ticks. Moddable's `Time.ticks` is a signed 32-bit
 * counter that wraps after about 24.8 days, so two ticks are compared through their difference,
 * taken modulo 2^32 and read as signed: correct while they are less than 2^31 ms apart.
 */

/** Milliseconds from `earlier` to `later`; negative when `later` is before `earlier`. */
export function ticksBetween(earlier: number, later: number): number {
  return (later - earlier) | 0;
}

/** The tick `ms` after `tick`, wrapped to 32 bits. */
export function ticksAdd(tick: number, ms: number): number {
  return (tick + ms) | 0;
}

/** Milliseconds from `now` until `deadline`, 0 when it has passed. */
export function ticksUntil(now: number, deadline: number): number {
  const ms = ticksBetween(now, deadline);
  return ms > 0 ? ms : 0;
}
