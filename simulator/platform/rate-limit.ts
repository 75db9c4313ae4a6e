/**
 * Fixed-window request counters per key (a provisioning token, a client ID). Windows that ended
 * are dropped on each call, and the number of keys is capped, so memory stays bounded whatever
 * clients send.
 */
export interface RateLimitOptions {
  limit: number;
  windowMs: number;
  maxKeys: number;
  now: () => number;
}

export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  readonly #options: RateLimitOptions;

  constructor(options: RateLimitOptions) {
    this.#options = options;
  }

  /** Counts one request for `key`; returns 0 when allowed, else the seconds until it would be. */
  take(key: string): number {
    const { limit, windowMs, maxKeys, now } = this.#options;
    const t = now();
    for (const [k, w] of this.#windows) if (t - w.start >= windowMs) this.#windows.delete(k);
    let window = this.#windows.get(key);
    if (!window) {
      if (this.#windows.size >= maxKeys) return Math.ceil(windowMs / 1000);
      window = { start: t, count: 0 };
      this.#windows.set(key, window);
    }
    if (window.count >= limit) return Math.max(1, Math.ceil((window.start + windowMs - t) / 1000));
    window.count++;
    return 0;
  }
}
