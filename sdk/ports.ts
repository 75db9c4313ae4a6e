/**
 * The ports of the sans-I/O core. The core never touches a socket, a timer, flash or a console:
 * each target (Moddable on ESP32, Node on the desktop, the XS host in tests) implements these.
 * Every callback the core hands to a port must be called from the port's own event loop turn,
 * never re-entrantly from inside the call that registered it.
 */

/**
 * Why a byte stream ended, as far as the port can tell: before `onOpen`, why it could not connect
 * (the broker refused the connection, no route to it, its name did not resolve, no answer, or
 * TLS: a certificate not signed by the trusted CA, expired or not yet valid, or for another
 * host); "failed" when the port cannot tell why; "closed" when an open stream ended.
 */
export type LinkFailure =
  | "refused"
  | "unreachable"
  | "name-not-resolved"
  | "timed-out"
  | "tls-untrusted"
  | "tls-expired"
  | "tls-wrong-host"
  | "tls-failed"
  | "failed"
  | "closed";

/** Events a transport connection delivers to the core. The core's handlers never throw. */
export interface TransportEvents {
  /** The byte stream is open; writes may start. */
  onOpen(): void;
  /** Bytes arrived. The core copies what it keeps: the port may reuse `bytes` after the call. */
  onData(bytes: Uint8Array): void;
  /** The stream ended (remote close, error, or after `close()`); `message` is for people and logs. */
  onClose(reason: LinkFailure, message?: string): void;
}

/** One open byte stream to the broker. */
export interface TransportConnection {
  /**
   * Queues bytes for sending. The port may keep a reference until they are sent, so the core
   * never reuses a buffer it has written. Bytes written after close are dropped.
   */
  write(bytes: Uint8Array): void;
  /** Closes the stream; `onClose` follows once. */
  close(): void;
}

/** Opens byte streams to one broker; the address and TLS settings belong to the port. */
export interface Transport {
  connect(events: TransportEvents): TransportConnection;
}

/** A pending wake-up, opaque to the core. */
export type TimerHandle = unknown;

/**
 * Monotonic milliseconds and one-shot wake-ups. `now()` may be a 32-bit tick count that wraps
 * (Moddable's `Time.ticks` on an ESP32, after about 24.8 days) or far beyond 32 bits (epoch
 * milliseconds on Moddable's simulator): compare ticks only with `ticksBetween`/`ticksUntil` from
 * `sdk/ticks.ts`, never with `<`, and never keep one across a reboot.
 */
export interface Clock {
  now(): number;
  /** Calls `callback` once, `delayMs` (>= 0) from now. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Cryptographic random bytes. */
export interface Random {
  /** Fills `bytes` entirely with random values. */
  fill(bytes: Uint8Array): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/**
 * Structured events. The core never passes a secret (token, password, key) in `fields`.
 * Implementations must not throw.
 */
export interface Log {
  write(level: LogLevel, event: string, fields?: LogFields): void;
}

/** A Log that drops everything: for hosts that want silence. */
export const silentLog: Log = Object.freeze({ write() {} });

/**
 * Durable storage of one record (the device's identity and any pending operation). `write`
 * returns only once the record is durable, and a power cut during it leaves either the old record
 * or the new one. Synchronous, like Moddable's `preference` and `flash`.
 */
export interface RecordStore {
  /** The last record written, or undefined when there is none. */
  read(): Uint8Array | undefined;
  /** Replaces the record; throws when it cannot be stored, leaving the old record in place. */
  write(record: Uint8Array): void;
  /** Removes the record (factory reset). */
  clear(): void;
}

/** The ports every part of the SDK that talks to the platform is given. */
export interface DevicePorts {
  transport: Transport;
  clock: Clock;
  random: Random;
  log?: Log;
}
