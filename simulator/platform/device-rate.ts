/**
 * How fast one device's messages are taken: a generic cell rate algorithm per device on both
 * messages and bytes. A device within its rate (and its burst) is never slowed; beyond it, each
 * message waits its turn before it is stored and acknowledged, so a device that publishes flat
 * out gets its rate and no more, and the others keep theirs.
 */
export interface DeviceRateLimits {
  messagesPerSecond: number;
  bytesPerSecond: number;
  /** Seconds of rate a device may spend at once after being quiet. */
  burstSeconds: number;
}

export const DEFAULT_DEVICE_RATE: DeviceRateLimits = {
  messagesPerSecond: 200,
  bytesPerSecond: 1024 * 1024,
  burstSeconds: 2,
};
/** Devices remembered at once; the quietest are forgotten first (they would be within their rate anyway). */
const MAX_DEVICES = 100_000;

export class DeviceRate {
  readonly #limits: DeviceRateLimits;
  /** Per device: when, in platform ms, its messages so far would all have been taken at its rate. */
  readonly #until = new Map<string, number>();

  readonly #now: () => number;

  constructor(limits: Partial<DeviceRateLimits> | undefined, now: () => number) {
    this.#now = now;
    this.#limits = { ...DEFAULT_DEVICE_RATE, ...limits };
  }

  /**
   * Counts `messages` (one by default) of `bytes` in all for `device`; the milliseconds they must
   * wait first (0 within its rate).
   */
  delayMs(device: string, bytes: number, messages = 1): number {
    const { messagesPerSecond, bytesPerSecond, burstSeconds } = this.#limits;
    const now = this.#now();
    const costMs = Math.max((1000 * messages) / messagesPerSecond, (1000 * bytes) / bytesPerSecond);
    const until = Math.max(this.#until.get(device) ?? now, now) + costMs;
    this.#until.delete(device);
    this.#until.set(device, until);
    if (this.#until.size > MAX_DEVICES) this.#until.delete(this.#until.keys().next().value!);
    return Math.max(0, Math.ceil(until - now - burstSeconds * 1000));
  }
}
