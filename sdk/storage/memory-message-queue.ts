/**
 * The outgoing queue of a device that gives the SDK no flash for it: the same bounds and policy
 * as FlashMessageQueue, in RAM, so messages wait out a lost network but not a power cut.
 */
import { silentLog, type Log } from "../ports";
import { utf8Encode } from "../utf8";
import { StorageError } from "./errors";
import type { MessageQueue, QueuedMessage, QueueFullPolicy } from "./message-queue";

export interface MemoryMessageQueueOptions {
  /** At most this many messages wait (default 16). */
  maxMessages?: number;
  /** At most this many bytes of streams and payloads wait (default 64 KiB). */
  maxBytes?: number;
  /** Default "refuse": `append` throws StorageError "queue-full". */
  whenFull?: QueueFullPolicy;
  log?: Log;
}

interface HeldMessage extends QueuedMessage {
  readonly stream: string;
  readonly payload: Uint8Array;
  /** Bytes of stream and payload, as the bound counts them. */
  readonly bytes: number;
}

export class MemoryMessageQueue implements MessageQueue {
  readonly #waiting: HeldMessage[] = [];
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #whenFull: QueueFullPolicy;
  readonly #log: Log;
  #bytes = 0;
  #nextSequence = 1;
  dropped = 0;

  constructor(options: MemoryMessageQueueOptions = {}) {
    this.#maxMessages = options.maxMessages ?? 16;
    this.#maxBytes = options.maxBytes ?? 65536;
    this.#whenFull = options.whenFull ?? "refuse";
    this.#log = options.log ?? silentLog;
  }

  get waiting(): readonly QueuedMessage[] {
    return this.#waiting;
  }

  get bytes(): number {
    return this.#bytes;
  }

  maxPayloadBytes(stream: string): number {
    return this.#maxBytes - utf8Encode(stream).length;
  }

  append(stream: string, payload: Uint8Array): QueuedMessage {
    const streamLength = utf8Encode(stream).length;
    const bytes = streamLength + payload.length;
    if (bytes > this.#maxBytes) throw new StorageError("queue-full", `the queue holds at most ${this.#maxBytes} bytes`);
    while (this.#waiting.length >= this.#maxMessages || this.#bytes + bytes > this.#maxBytes) {
      if (this.#whenFull === "refuse")
        throw new StorageError(
          "queue-full",
          `the queue is full (${this.#waiting.length} messages, ${this.#bytes} bytes)`,
        );
      const oldest = this.#waiting[0];
      this.markDone(oldest);
      this.dropped++;
      this.#log.write("warn", "message-dropped", { sequence: oldest.sequence, dropped: this.dropped });
    }
    const message: HeldMessage = {
      sequence: this.#nextSequence++,
      sent: false,
      stream,
      payload: payload.slice(),
      bytes,
    };
    this.#waiting.push(message);
    this.#bytes += bytes;
    return message;
  }

  read(message: QueuedMessage): { stream: string; payload: Uint8Array } {
    const held = message as HeldMessage;
    return { stream: held.stream, payload: held.payload };
  }

  markSent(message: QueuedMessage): void {
    message.sent = true;
  }

  markDone(message: QueuedMessage): boolean {
    const index = this.#waiting.indexOf(message as HeldMessage);
    if (index < 0) return false;
    this.#waiting.splice(index, 1);
    this.#bytes -= (message as HeldMessage).bytes;
    return true;
  }
}
