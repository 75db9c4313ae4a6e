/**
 * What `DeviceClient.send` is given, on its way to the platform: stored in the message queue
 * first, then published in order through whichever registered session is current, and taken off
 * the queue only on the platform's PUBACK. Messages sent before registration, while offline or
 * before a power cut (with a flash queue) go out once a session is there, at least once: each
 * keeps its MQTT packet id for life and is resent with DUP, so the platform stores it once.
 */
import { queuedMessageIds } from "./mqtt/client";
import type { Log } from "./ports";
import type { RegisteredSession } from "./registration/session";
import { codedErrorClass } from "./errors";
import type { MessageQueue, QueuedMessage } from "./storage/message-queue";
import { StorageError } from "./storage/errors";

const streamPattern = /^[0-9A-Za-z_.-]{1,64}$/;
/** docs/protocol.md 2a: the platform's default message size limit. */
export const maxMessageBytes = 256 * 1024;
/** Messages in flight at once: the MQTT client's window is 16, and token requests need room too. */
const maxInFlight = 8;

export function isStreamName(value: unknown): value is string {
  return typeof value === "string" && streamPattern.test(value);
}

export type SendErrorCode = "invalid-stream" | "message-too-large" | "dropped" | "not-started";

/** Why `send` refused a message (a StorageError when the queue could not keep it). */
export const SendError = codedErrorClass<SendErrorCode>("SendError");
export type SendError = InstanceType<typeof SendError>;

/** The packet id a queued message keeps for life. */
function messageIdOf(message: QueuedMessage): number {
  return queuedMessageIds.first + (message.sequence % (queuedMessageIds.last - queuedMessageIds.first + 1));
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

export class Outbox {
  private readonly _queue: MessageQueue;
  private readonly _log: Log;
  private _session: RegisteredSession | undefined;
  /** Published on the current session, not yet acknowledged. */
  private readonly _inFlight = new Set<QueuedMessage>();
  /** The promises of `send` calls made since boot, by message. */
  private readonly _waiters = new Map<QueuedMessage, Waiter>();

  private readonly _delivered: (waiting: number) => void;

  constructor(queue: MessageQueue, log: Log, delivered: (waiting: number) => void) {
    this._queue = queue;
    this._log = log;
    this._delivered = delivered;
  }

  /** Stores the message (rejecting at once when it cannot) and resolves on the platform's PUBACK. */
  send(stream: string, payload: Uint8Array): Promise<void> {
    if (!isStreamName(stream))
      return Promise.reject(new SendError("invalid-stream", "a stream name is 1-64 characters of 0-9 A-Z a-z _ . -"));
    const limit = Math.min(maxMessageBytes, this._queue.maxPayloadBytes(stream));
    if (payload.length > limit)
      return Promise.reject(new SendError("message-too-large", `a message is at most ${limit} bytes`));
    let message: QueuedMessage;
    const dropped = this._queue.dropped;
    try {
      message = this._queue.append(stream, payload);
    } catch (error) {
      return Promise.reject(error instanceof StorageError ? error : new StorageError("verify-failed", String(error)));
    }
    if (this._queue.dropped !== dropped) this._rejectDropped();
    const delivered = new Promise<void>((resolve, reject) => this._waiters.set(message, { resolve, reject }));
    this._pump();
    return delivered;
  }

  /** The session messages go through from now on (undefined: none until the next). */
  use(session: RegisteredSession | undefined): void {
    this._session = session;
    this._inFlight.clear();
    this._pump();
  }

  private _pump(): void {
    const session = this._session;
    if (!session) return;
    const waiting = this._queue.waiting;
    for (let i = 0; i < waiting.length; i++) {
      const message = waiting[i];
      if (this._inFlight.size >= maxInFlight) return;
      if (this._inFlight.has(message)) continue;
      let dup: boolean;
      let body: { stream: string; payload: Uint8Array };
      try {
        dup = message.sent;
        body = this._queue.read(message);
        this._queue.markSent(message);
      } catch (error) {
        this._log.write("error", "queue-read-failed", { sequence: message.sequence, error: String(error) });
        return;
      }
      this._inFlight.add(message);
      session.send(body.stream, body.payload, { messageId: messageIdOf(message), dup }, (error) =>
        this._acknowledged(session, message, error),
      );
    }
  }

  private _acknowledged(session: RegisteredSession, message: QueuedMessage, error: Error | undefined): void {
    if (session !== this._session) return;
    this._inFlight.delete(message);
    if (error) return; // the session ended: the next one sends it again
    try {
      this._queue.markDone(message);
    } catch (e) {
      // Left waiting on flash: resent after a reboot with DUP, which the platform recognises.
      this._log.write("error", "queue-write-failed", { sequence: message.sequence, error: String(e) });
    }
    const waiter = this._waiters.get(message);
    this._waiters.delete(message);
    waiter?.resolve();
    this._delivered(this._queue.waiting.length);
    this._pump();
  }

  /** The policy dropped the oldest messages to make room: their senders learn it. */
  private _rejectDropped(): void {
    // forEach, not for-of over entries: XS compiles that into the iterator protocol and an array
    // destructuring, 230 bytes more.
    this._waiters.forEach((waiter, message) => {
      if (this._queue.waiting.includes(message)) return;
      this._waiters.delete(message);
      this._inFlight.delete(message);
      waiter.reject(new SendError("dropped", "the queue was full and dropped this message for a newer one"));
    });
  }
}
