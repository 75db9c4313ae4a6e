/**
 * The outgoing queue of a device that gives the SDK no flash for it: the same bounds and policy
 * as FlashMessageQueue, in RAM, so messages wait out a lost network but not a power cut.
 */
import { utf8Encode } from "../utf8";
import type { MessageQueue, QueuedMessage } from "./message-queue";
import { QueueLimits, type QueueLimitOptions } from "./queue-limits";

/** Bounds default to 16 messages and 64 KiB. */
export type MemoryMessageQueueOptions = QueueLimitOptions;

interface HeldMessage extends QueuedMessage {
  readonly stream: string;
  readonly payload: Uint8Array;
  /** Bytes of stream and payload, as the bound counts them. */
  readonly bytes: number;
}

export class MemoryMessageQueue implements MessageQueue {
  readonly #waiting: HeldMessage[] = [];
  readonly #limits: QueueLimits;
  #bytes = 0;
  #nextSequence = 1;

  constructor(options: MemoryMessageQueueOptions = {}) {
    this.#limits = new QueueLimits(options, { maxMessages: 16, maxBytes: 65536 });
  }

  get waiting(): readonly QueuedMessage[] {
    return this.#waiting;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get dropped(): number {
    return this.#limits.dropped;
  }

  maxPayloadBytes(stream: string): number {
    return this.#limits.maxBytes - utf8Encode(stream).length;
  }

  append(stream: string, payload: Uint8Array): QueuedMessage {
    const streamLength = utf8Encode(stream).length;
    const bytes = streamLength + payload.length;
    this.#limits.admit(this, bytes);
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
