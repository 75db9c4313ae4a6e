/**
 * The outgoing messages, kept on raw NOR flash until the platform has stored them, so that
 * neither a lost network nor a power cut loses one the application was told was queued.
 *
 * The sectors form a ring used as a log, as in FlashRecordStore: `append` writes one entry after
 * the last, erasing the next sector in the ring when the current one is full. An entry is
 *
 *   [0xA6] [sent] [done] [stream length u8] [sequence u32] [payload length u16] [0 u16]
 *   [stream] [payload] [CRC-32 u32]
 *
 * The CRC covers every byte but `sent` and `done`, two flags that start erased (0xFF) and are
 * cleared in place, as NOR flash allows without an erase: `sent` before the message first goes
 * to the network (its resends then carry MQTT's DUP), `done` once the platform acknowledged it
 * (or the queue dropped it). A flag cut short by a power failure reads as set, which is the safe
 * side of both. So a message costs one entry and two one-byte writes, and a sector is erased only
 * when the ring comes back to it, once every message in it is done.
 *
 * The queue never appends where the flash is not erased (the tail of a write cut short) and
 * reads back each entry it writes; a sector whose entries are not all done is erased only when
 * the application chose "drop-oldest": otherwise the queue is full.
 */
import { utf8Decode, utf8Encode } from "../utf8";
import { crc32 } from "./crc32";
import { isErased, readU32, writeU32 } from "./entry";
import { StorageError } from "./errors";
import { eraseSector, flashErased, wordAligned, writeVerified, type Flash } from "./flash";
import { QueueLimits, type QueueLimitOptions } from "./queue-limits";

/** Bounds default to 256 messages and what the flash can hold. */
export interface FlashMessageQueueOptions extends QueueLimitOptions {
  /** The region the queue owns entirely: at least two sectors, none shared with a record store. */
  flash: Flash;
}

/** Where a DeviceClient keeps what `send` was given until the platform acknowledged it. */
export interface MessageQueue {
  /** Waiting messages, oldest first: the caller may read them, not change the list. */
  readonly waiting: readonly QueuedMessage[];
  /** Bytes of streams and payloads waiting. */
  readonly bytes: number;
  /** Messages dropped since the queue was opened (policy "drop-oldest"). */
  readonly dropped: number;
  /** The largest payload a message on `stream` can have. */
  maxPayloadBytes(stream: string): number;
  /**
   * Keeps a message and returns it; throws StorageError: "queue-full" (policy "refuse"),
   * "record-too-large", "verify-failed". Once it returns, the message waits for the platform.
   */
  append(stream: string, payload: Uint8Array): QueuedMessage;
  read(message: QueuedMessage): { stream: string; payload: Uint8Array };
  /** Records, before the message first goes out, that it may reach the platform. */
  markSent(message: QueuedMessage): void;
  /** The platform has stored the message: it leaves the queue. False when it was not waiting. */
  markDone(message: QueuedMessage): boolean;
}

/** A message waiting for the platform's acknowledgement. */
export interface QueuedMessage {
  /** Counts up from 1 over the queue's life (across reboots on flash). */
  readonly sequence: number;
  /** It may have reached the network before: a resend must say so (MQTT DUP). */
  sent: boolean;
}

/** Where a waiting message is on flash. */
interface StoredMessage extends QueuedMessage {
  /** Where its entry starts in the flash region. */
  readonly address: number;
  readonly streamLength: number;
  readonly payloadLength: number;
}

const magic = 0xa6;
const sentFlag = 1;
const doneFlag = 2;
const headerBytes = 12;
const overheadBytes = headerBytes + 4;
const cleared = new Uint8Array(1);

/** The CRC of an entry's bytes before its CRC, with both flags read as erased. */
function entryCrc(entry: Uint8Array): number {
  const copy = entry.slice();
  copy[sentFlag] = 0xff;
  copy[doneFlag] = 0xff;
  return crc32(copy);
}

export class FlashMessageQueue implements MessageQueue {
  private readonly _flash: Flash;
  private readonly _sectorCount: number;
  private readonly _limits: QueueLimits;
  /** Oldest first. */
  private readonly _waiting: StoredMessage[] = [];
  private _bytes = 0;
  private _nextSequence = 1;
  /** The sector of the newest entry, -1 when the flash holds none. */
  private _sector = -1;
  /** Where the next entry may go in `_sector`, -1 when that sector takes no more. */
  private _free = -1;

  constructor(options: FlashMessageQueueOptions) {
    const flash = options.flash;
    const sectorCount = flash.size / flash.sectorSize;
    if (!Number.isInteger(sectorCount) || sectorCount < 2 || flash.sectorSize < 256)
      throw new StorageError(
        "invalid-options",
        `a message queue needs at least two sectors of 256 bytes or more (size ${flash.size}, sector ${flash.sectorSize})`,
      );
    this._flash = flash;
    this._sectorCount = sectorCount;
    this._limits = new QueueLimits(options, {
      maxMessages: 256,
      maxBytes: (sectorCount - 1) * (flash.sectorSize - overheadBytes),
    });
    let newest = 0;
    for (let sector = 0; sector < sectorCount; sector++) {
      const last = this._scan(sector);
      if (last.sequence > newest) {
        newest = last.sequence;
        this._sector = sector;
        this._free = last.free;
      }
    }
    this._nextSequence = newest + 1;
    this._waiting.sort((a, b) => a.sequence - b.sequence);
  }

  /** Waiting messages, oldest first: the caller may read them, not change the list. */
  get waiting(): readonly QueuedMessage[] {
    return this._waiting;
  }

  /** Bytes of streams and payloads waiting. */
  get bytes(): number {
    return this._bytes;
  }

  /** Messages dropped since the queue was opened (policy "drop-oldest"). */
  get dropped(): number {
    return this._limits.dropped;
  }

  /** The largest payload a message on `stream` can have: one entry fits in one sector. */
  maxPayloadBytes(stream: string): number {
    return Math.min(this._flash.sectorSize - overheadBytes - utf8Encode(stream).length, 0xffff);
  }

  /**
   * Stores a message durably and returns it; throws StorageError: "queue-full" (policy "refuse"),
   * "record-too-large", "verify-failed". Once it returns, a power cut no longer loses the message.
   */
  append(stream: string, payload: Uint8Array): StoredMessage {
    const streamBytes = utf8Encode(stream);
    const size = overheadBytes + streamBytes.length + payload.length;
    if (
      streamBytes.length === 0 ||
      streamBytes.length > 255 ||
      payload.length > 0xffff ||
      size > this._flash.sectorSize
    )
      throw new StorageError(
        "record-too-large",
        `a message on this queue is at most ${this.maxPayloadBytes(stream)} bytes`,
      );
    const bytes = streamBytes.length + payload.length;
    this._limits.admit(this, bytes);
    const sequence = this._nextSequence++;
    const entry = new Uint8Array(size);
    entry[0] = magic;
    entry[sentFlag] = 0xff;
    entry[doneFlag] = 0xff;
    entry[3] = streamBytes.length;
    writeU32(entry, 4, sequence);
    entry[8] = payload.length;
    entry[9] = payload.length >>> 8;
    entry.set(streamBytes, headerBytes);
    entry.set(payload, headerBytes + streamBytes.length);
    writeU32(entry, size - 4, entryCrc(entry.subarray(0, size - 4)));
    const address = this._place(size);
    const failed = writeVerified(this._flash, address, entry, cleared);
    if (failed) {
      this._free = -1;
      throw failed;
    }
    this._free = wordAligned(address - this._sector * this._flash.sectorSize + size);
    const message: StoredMessage = {
      sequence,
      sent: false,
      address,
      streamLength: streamBytes.length,
      payloadLength: payload.length,
    };
    this._waiting.push(message);
    this._bytes += bytes;
    return message;
  }

  /** The stream and payload of a waiting message, read from flash. */
  read(queued: QueuedMessage): { stream: string; payload: Uint8Array } {
    const message = queued as StoredMessage;
    const body = this._flash.read(message.address + headerBytes, message.streamLength + message.payloadLength);
    return {
      stream: utf8Decode(body.subarray(0, message.streamLength)) ?? "",
      payload: body.slice(message.streamLength),
    };
  }

  /** Records, before the message first goes out, that it may reach the platform. */
  markSent(queued: QueuedMessage): void {
    const message = queued as StoredMessage;
    if (message.sent) return;
    this._flash.write(message.address + sentFlag, cleared);
    message.sent = true;
  }

  /** The platform has stored the message: it leaves the queue. False when it was not waiting. */
  markDone(queued: QueuedMessage): boolean {
    const message = queued as StoredMessage;
    const index = this._waiting.indexOf(message);
    if (index < 0) return false;
    this._flash.write(message.address + doneFlag, cleared);
    this._waiting.splice(index, 1);
    this._bytes -= message.streamLength + message.payloadLength;
    return true;
  }

  /** Reads one sector's entries into the waiting list; returns its newest sequence and free offset. */
  private _scan(sector: number): { sequence: number; free: number } {
    const sectorSize = this._flash.sectorSize;
    const bytes = this._flash.read(sector * sectorSize, sectorSize);
    let newest = 0;
    let offset = 0;
    while (offset < sectorSize) {
      if (isErased(bytes, offset, Math.min(overheadBytes, sectorSize - offset)))
        return { sequence: newest, free: offset };
      const streamLength = bytes[offset + 3];
      const payloadLength = bytes[offset + 8] | (bytes[offset + 9] << 8);
      const end = offset + headerBytes + streamLength + payloadLength;
      if (bytes[offset] !== magic || streamLength === 0 || end + 4 > sectorSize) break;
      if (entryCrc(bytes.subarray(offset, end)) !== readU32(bytes, end)) break;
      const sequence = readU32(bytes, offset + 4);
      if (sequence > newest) newest = sequence;
      if (bytes[offset + doneFlag] === 0xff) {
        this._waiting.push({
          sequence,
          sent: bytes[offset + sentFlag] !== 0xff,
          address: sector * sectorSize + offset,
          streamLength,
          payloadLength,
        });
        this._bytes += streamLength + payloadLength;
      }
      offset = wordAligned(end + 4);
    }
    return { sequence: newest, free: -1 };
  }

  /** Where an entry of `size` bytes goes: after the last entry, or at the start of the next sector. */
  private _place(size: number): number {
    const sectorSize = this._flash.sectorSize;
    const start = this._sector * sectorSize + this._free;
    if (
      this._sector >= 0 &&
      this._free >= 0 &&
      this._free + size <= sectorSize &&
      flashErased(this._flash, start, size)
    )
      return start;
    const next = (this._sector + 1) % this._sectorCount;
    const inNext = (m: StoredMessage) => Math.floor(m.address / sectorSize) === next;
    while (this._waiting.some(inNext)) this._limits.makeRoom(this, this._waiting.filter(inNext).length);
    eraseSector(this._flash, next);
    this._sector = next;
    this._free = 0;
    return next * sectorSize;
  }
}
