/**
 * When to refresh a registration token (docs/protocol.md 2b): at `min(expiry - margin, issue + lifetime *
 * fraction)`. The device has no wall clock, so both ends come from the platform's relative
 * `expiresIn` and the lifetime recorded at issue: issue = expiry - lifetime.
 */
import type { BackoffOptions } from "../backoff";

export interface RefreshPolicy {
  /**
   * Refresh at least this many seconds before expiry; default 600. A margin not shorter than the
   * whole lifetime is ignored: it would ask for a refresh before the token was even issued.
   */
  beforeExpiryS?: number;
  /** Refresh at the latest this fraction of the lifetime after issue; default 0.5. */
  lifetimeFraction?: number;
  /** How long to wait for a token reply before asking again with backoff; default 10 s. */
  replyTimeoutMs?: number;
  /** Delays between failed refreshes; default 1 s .. 5 min with full jitter. */
  retry?: BackoffOptions;
}

/** Milliseconds from a status reply saying `expiresInS` until the refresh, for a token issued with `lifetimeS`. */
export function refreshDelayMs(expiresInS: number, lifetimeS: number, policy: RefreshPolicy = {}): number {
  // A status longer than the recorded lifetime (an old record) means the lifetime is at least that.
  const lifetime = Math.max(lifetimeS, expiresInS);
  const fraction = Math.min(1, Math.max(0, policy.lifetimeFraction ?? 0.5));
  const margin = policy.beforeExpiryS ?? 600;
  const afterHalf = lifetime * (1 - fraction);
  const lead = margin < lifetime ? Math.max(margin, afterHalf) : afterHalf;
  return Math.max(0, Math.floor((expiresInS - lead) * 1000));
}
