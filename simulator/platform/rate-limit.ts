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

/**
 * Failed logins slowed (docs/protocol.md 2c): after 5 refusals in a minute for one key (a client
 * ID, a provisioning token), each further refusal is answered only after 3 s. Only refusals are
 * slowed: a valid credential is never delayed, so nobody can lock a device out by failing on its
 * behalf, and other keys are untouched. One owner for both brokers: the embedded broker holds a
 * CONNACK, the cluster's auth hook its answer to the broker.
 */
export class SlowedRefusals {
  static readonly limit = { limit: 5, windowMs: 60_000 };
  static readonly delayMs = 3000;
  /** Refusals held back at once; beyond this they are answered at once (each holds a connection). */
  static readonly maxHeld = 256;
  readonly #failed: RateLimiter;
  #held = 0;

  constructor(now: () => number) {
    this.#failed = new RateLimiter({ ...SlowedRefusals.limit, maxKeys: 10_000, now });
  }

  /** Counts a refusal for every key; whether it is held back. `answer` follows, at once or after the delay. */
  refuse(keys: string[], answer: () => void): boolean {
    // Every key counts the failure, so take them all before deciding.
    const overLimit = keys.map((key) => this.#failed.take(key)).some((retryAfter) => retryAfter > 0);
    if (!overLimit || this.#held >= SlowedRefusals.maxHeld) {
      answer();
      return false;
    }
    this.#held++;
    setTimeout(() => {
      this.#held--;
      answer();
    }, SlowedRefusals.delayMs).unref();
    return true;
  }
}
