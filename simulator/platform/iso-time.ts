/**
 * A stored time (ms since 1970) as ISO 8601 for the API, or null when no date can hold it: a row
 * written by an older platform, or by hand, must never make a whole list fail.
 */
export function isoTime(ms: number | null): string | null {
  const date = ms === null ? undefined : new Date(ms);
  return date && Number.isFinite(date.getTime()) ? date.toISOString() : null;
}
