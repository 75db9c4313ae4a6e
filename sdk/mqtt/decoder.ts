/**
 * Incremental decoder for the packets a server sends. It keeps no header buffer: the fixed
 * header is read byte by byte into numbers, then a packet that lies whole in the pushed chunk is
 * parsed in place, and only a packet split across chunks is gathered into a buffer of exactly its
 * size, never more than maxPacketSize.
 */
import { utf8Decode } from "../utf8";
import { MqttProtocolError, type MqttProtocolErrorCode } from "./errors";
import type { PublishPacket, ServerPacket } from "./packets";

export interface PacketDecoderOptions {
  /** Largest packet accepted, fixed header included; default 8192. */
  maxPacketSize?: number;
}

function fail(code: MqttProtocolErrorCode, message: string): MqttProtocolError {
  return new MqttProtocolError(code, message);
}

/** Checks the type and flags of a packet as soon as its first byte arrives. */
function checkFirstByte(firstByte: number): MqttProtocolError | undefined {
  const type = firstByte >> 4;
  const flags = firstByte & 15;
  if (type === 3) {
    if ((flags & 6) === 6) return fail("invalid-field", "PUBLISH with QoS 3");
    if ((flags & 14) === 8) return fail("bad-flags", "PUBLISH QoS 0 with dup set");
    return undefined;
  }
  // CONNACK, PUBACK, SUBACK, UNSUBACK, PINGRESP: the other types are never sent to a client.
  if (type !== 2 && type !== 4 && type !== 9 && type !== 11 && type !== 13)
    return fail("unknown-packet-type", `packet type ${type} is not one a server sends`);
  if (flags !== 0) return fail("bad-flags", `packet type ${type} with flags ${flags}`);
  return undefined;
}

function readMessageId(bytes: Uint8Array, offset: number): number | MqttProtocolError {
  const messageId = (bytes[offset] << 8) | bytes[offset + 1];
  return messageId === 0 ? fail("invalid-field", "messageId 0") : messageId;
}

function wrongLength(expected: number, length: number): MqttProtocolError {
  return fail("truncated", `remaining length ${length}, expected ${expected}`);
}

/** Parses the body bytes[start, end) of a packet whose first byte passed checkFirstByte. */
function parse(firstByte: number, bytes: Uint8Array, start: number, end: number): ServerPacket | MqttProtocolError {
  const length = end - start;
  switch (firstByte >> 4) {
    case 2: {
      if (length !== 2) return wrongLength(2, length);
      const flags = bytes[start];
      const returnCode = bytes[start + 1];
      if (flags > 1 || returnCode > 5 || (flags === 1 && returnCode !== 0))
        return fail("invalid-field", `CONNACK flags ${flags}, return code ${returnCode}`);
      return { cmd: "connack", sessionPresent: flags === 1, returnCode };
    }
    case 3: {
      const qos = (firstByte >> 1) & 3;
      const topicEnd = start + 2 + ((bytes[start] << 8) | bytes[start + 1]);
      const bodyStart = topicEnd + (qos > 0 ? 2 : 0);
      if (length < 2 || bodyStart > end) return fail("truncated", "PUBLISH ends inside its header");
      const topic = utf8Decode(bytes, start + 2, topicEnd);
      if (topic === undefined) return fail("invalid-utf8", "PUBLISH topic is not UTF-8");
      const packet: PublishPacket = {
        cmd: "publish",
        topic,
        payload: bytes.subarray(bodyStart, end),
        qos: qos as 0 | 1 | 2,
        dup: (firstByte & 8) !== 0,
        retain: (firstByte & 1) !== 0,
      };
      if (qos > 0) {
        const messageId = readMessageId(bytes, topicEnd);
        if (typeof messageId !== "number") return messageId;
        packet.messageId = messageId;
      }
      return packet;
    }
    case 9: {
      if (length < 3) return fail("truncated", "SUBACK without a return code");
      const messageId = readMessageId(bytes, start);
      if (typeof messageId !== "number") return messageId;
      const granted: number[] = [];
      for (let i = start + 2; i < end; i++) {
        const code = bytes[i];
        if (code > 2 && code !== 0x80) return fail("invalid-field", `SUBACK return code ${code}`);
        granted.push(code);
      }
      return { cmd: "suback", messageId, granted };
    }
    case 13:
      return length === 0 ? { cmd: "pingresp" } : wrongLength(0, length);
    default: {
      // PUBACK and UNSUBACK: nothing but a messageId.
      if (length !== 2) return wrongLength(2, length);
      const messageId = readMessageId(bytes, start);
      if (typeof messageId !== "number") return messageId;
      return { cmd: firstByte >> 4 === 4 ? "puback" : "unsuback", messageId };
    }
  }
}

export class PacketDecoder {
  private readonly _maxPacketSize: number;
  private _failure: MqttProtocolError | undefined;
  /** First byte of the packet being read, or -1 before it arrives. */
  private _firstByte = -1;
  private _lengthBytes = 0;
  private _remaining = 0;
  /** The body of a packet split across chunks, filled up to `filled`. */
  private _body: Uint8Array | undefined;
  private _filled = 0;
  /** Counts resets, so a push stops when onPacket resets the decoder for a new connection. */
  private _generation = 0;

  constructor(options: PacketDecoderOptions = {}) {
    this._maxPacketSize = options.maxPacketSize ?? 8192;
  }

  /** Bytes held for a packet split across chunks; never more than maxPacketSize. */
  get bufferedBytes(): number {
    return this._body ? this._body.length : 0;
  }

  /**
   * Feeds bytes in any split; calls onPacket for each complete packet, in order. Returns the first
   * protocol error, and again on every later push until reset(). If onPacket calls reset(), the
   * rest of the chunk is dropped. A PUBLISH payload is a view, not a copy (no allocation per
   * message on a small heap): of `bytes`, or of the packet's own buffer when it came split, so it
   * is valid during onPacket and must be copied by whoever keeps it.
   */
  push(bytes: Uint8Array, onPacket: (packet: ServerPacket) => void): MqttProtocolError | undefined {
    const generation = this._generation;
    let i = 0;
    while (i < bytes.length && !this._failure && generation === this._generation) {
      let result: ServerPacket | MqttProtocolError;
      const body = this._body;
      if (body) {
        const count = Math.min(body.length - this._filled, bytes.length - i);
        body.set(bytes.subarray(i, i + count), this._filled);
        i += count;
        this._filled += count;
        if (this._filled < body.length) break;
        this._body = undefined;
        result = parse(this._firstByte, body, 0, body.length);
      } else {
        const byte = bytes[i++];
        if (this._firstByte < 0) {
          this._firstByte = byte;
          this._failure = checkFirstByte(byte);
          continue;
        }
        this._remaining += (byte & 127) * 128 ** this._lengthBytes++;
        if (byte & 128) {
          if (this._lengthBytes === 4)
            this._failure = fail("malformed-remaining-length", "remaining length over 4 bytes");
          continue;
        }
        const remaining = this._remaining;
        if (1 + this._lengthBytes + remaining > this._maxPacketSize) {
          this._failure = fail("packet-too-large", `packet of ${1 + this._lengthBytes + remaining} bytes`);
          continue;
        }
        if (bytes.length - i < remaining) {
          this._body = new Uint8Array(remaining);
          this._filled = 0;
          continue;
        }
        result = parse(this._firstByte, bytes, i, i + remaining);
        i += remaining;
      }
      if (result instanceof MqttProtocolError) this._failure = result;
      else {
        this._firstByte = -1;
        this._lengthBytes = this._remaining = 0;
        onPacket(result);
      }
    }
    return this._failure;
  }

  /** Forgets partial input and any failure: for a new connection. */
  reset(): void {
    this._generation++;
    this._failure = this._body = undefined;
    this._firstByte = -1;
    this._lengthBytes = this._remaining = 0;
  }
}
