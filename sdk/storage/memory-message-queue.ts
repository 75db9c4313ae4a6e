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
  private readonly _waiting: HeldMessage[] = [];
  private readonly _limits: QueueLimits;
  private _bytes = 0;
  private _nextSequence = 1;

  constructor(options: MemoryMessageQueueOptions = {}) {
    this._limits = new QueueLimits(options, { maxMessages: 16, maxBytes: 65536 });
  }

  get waiting(): readonly QueuedMessage[] {
    return this._waiting;
  }

  get bytes(): number {
    return this._bytes;
  }

  get dropped(): number {
    return this._limits.dropped;
  }

  maxPayloadBytes(stream: string): number {
    return this._limits.maxBytes - utf8Encode(stream).length;
  }

  append(stream: string, payload: Uint8Array): QueuedMessage {
    const streamLength = utf8Encode(stream).length;
    const bytes = streamLength + payload.length;
    this._limits.admit(this, bytes);
    const message: HeldMessage = {
      sequence: this._nextSequence++,
      sent: false,
      stream,
      payload: payload.slice(),
      bytes,
    };
    this._waiting.push(message);
    this._bytes += bytes;
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
    const index = this._waiting.indexOf(message as HeldMessage);
    if (index < 0) return false;
    this._waiting.splice(index, 1);
    this._bytes -= (message as HeldMessage).bytes;
    return true;
  }
}
