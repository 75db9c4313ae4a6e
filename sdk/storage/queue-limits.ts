/**
 * The bounds and the full policy both message queues share: at most so many messages and bytes
 * wait, and a message that does not fit is refused or makes room by dropping the oldest, counted.
 */
import { silentLog, type Log } from "../ports";
import { StorageError } from "./errors";
import type { MessageQueue } from "./message-queue";

/** What `append` does when the queue is full: refuse the new message, or drop the oldest ones. */
export type QueueFullPolicy = "refuse" | "drop-oldest";

export interface QueueLimitOptions {
  /** At most this many messages wait. */
  maxMessages?: number;
  /** At most this many bytes of streams and payloads wait. */
  maxBytes?: number;
  /** Default "refuse": `append` throws StorageError "queue-full". */
  whenFull?: QueueFullPolicy;
  /** Receives `message-dropped` for each message the queue drops. */
  log?: Log;
}

export class QueueLimits {
  private readonly _maxMessages: number;
  private readonly _maxBytes: number;
  private readonly _whenFull: QueueFullPolicy;
  private readonly _log: Log;
  /** Messages dropped since the queue was opened (policy "drop-oldest"). */
  dropped = 0;

  constructor(options: QueueLimitOptions, defaults: { maxMessages: number; maxBytes: number }) {
    this._maxMessages = options.maxMessages ?? defaults.maxMessages;
    this._maxBytes = options.maxBytes ?? defaults.maxBytes;
    this._whenFull = options.whenFull ?? "refuse";
    this._log = options.log ?? silentLog;
  }

  get maxBytes(): number {
    return this._maxBytes;
  }

  /** Makes room in `queue` for a message of `bytes` (stream and payload), or throws "queue-full". */
  admit(queue: MessageQueue, bytes: number): void {
    if (bytes > this._maxBytes) throw new StorageError("queue-full", `the queue holds at most ${this._maxBytes} bytes`);
    while (queue.waiting.length >= this._maxMessages || queue.bytes + bytes > this._maxBytes) this.makeRoom(queue, 1);
  }

  /** Drops the `count` oldest messages of `queue`, or refuses, as the policy says. */
  makeRoom(queue: MessageQueue, count: number): void {
    if (this._whenFull === "refuse")
      throw new StorageError(
        "queue-full",
        `the queue is full (${queue.waiting.length} messages, ${queue.bytes} bytes)`,
      );
    for (let i = 0; i < count; i++) {
      const oldest = queue.waiting[0];
      queue.markDone(oldest);
      this.dropped++;
      this._log.write("warn", "message-dropped", { sequence: oldest.sequence, dropped: this.dropped });
    }
  }
}
