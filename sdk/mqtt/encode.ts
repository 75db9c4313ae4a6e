/**
 * Encodes the packets a client sends. Each packet is sized first and written into one Uint8Array
 * of exactly the bytes that go on the wire; its strings are made UTF-8 before, each once.
 */
import { utf8Encode } from "../utf8";
import { MqttProtocolError } from "./errors";
import type { ClientPacket, QoS, Subscription } from "./packets";

function invalid(message: string): MqttProtocolError {
  return new MqttProtocolError("invalid-packet", message);
}

function check(valid: boolean, message: string): void {
  if (!valid) throw invalid(message);
}

function checkMessageId(messageId: number): void {
  check(Number.isInteger(messageId) && messageId >= 1 && messageId <= 65535, "messageId must be 1..65535");
}

function checkQoS(qos: QoS, max: number): void {
  check(Number.isInteger(qos) && qos >= 0 && qos <= max, `QoS must be 0..${max}`);
}

function checkTopicName(topic: string): void {
  check(topic.length > 0 && !/[+#]/.test(topic), "a topic name is not empty, without wildcards");
}

/** A string field as UTF-8 (MQTT 1.5.3), which its 16-bit length must cover. */
function stringBytes(text: string): Uint8Array {
  const bytes = utf8Encode(text);
  check(bytes.length <= 65535, "string over 65535 bytes");
  return bytes;
}

/** Size of a length-prefixed field. */
function fieldSize(bytes: Uint8Array): number {
  check(bytes.length <= 65535, "binary field over 65535 bytes");
  return 2 + bytes.length;
}

function writeUint16(out: Uint8Array, offset: number, value: number): number {
  out[offset] = value >> 8;
  out[offset + 1] = value & 0xff;
  return offset + 2;
}

function writeField(out: Uint8Array, offset: number, bytes: Uint8Array): number {
  out.set(bytes, writeUint16(out, offset, bytes.length));
  return offset + 2 + bytes.length;
}

/** Allocates the whole packet and writes its fixed header; the body starts at `length - remaining`. */
function allocate(firstByte: number, remaining: number): Uint8Array {
  check(remaining <= 268435455, "packet over 256 MB");
  const out = new Uint8Array(
    1 + (remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4) + remaining,
  );
  out[0] = firstByte;
  let offset = 1;
  for (let rest = remaining; ;) {
    const digit = rest % 128;
    rest = (rest - digit) / 128;
    if (rest === 0) {
      out[offset] = digit;
      return out;
    }
    out[offset++] = digit | 128;
  }
}

/** Encodes one client packet; throws MqttProtocolError("invalid-packet") for one MQTT cannot represent. */
export function encode(packet: ClientPacket): Uint8Array {
  switch (packet.cmd) {
    case "connect": {
      const { keepalive, password, will } = packet;
      check(Number.isInteger(keepalive) && keepalive >= 0 && keepalive <= 65535, "keepalive must be 0..65535");
      check(packet.clientId.length > 0 || packet.clean, "an empty clientId needs a clean session");
      check(password === undefined || packet.username !== undefined, "a password needs a username");
      const clientId = stringBytes(packet.clientId);
      const username = packet.username === undefined ? undefined : stringBytes(packet.username);
      let size = 10 + fieldSize(clientId);
      let flags = packet.clean ? 0x02 : 0;
      let willTopic: Uint8Array | undefined;
      if (will) {
        checkQoS(will.qos, 2);
        checkTopicName(will.topic);
        willTopic = stringBytes(will.topic);
        size += fieldSize(willTopic) + fieldSize(will.payload);
        flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
      }
      if (username) {
        size += fieldSize(username);
        flags |= 0x80;
      }
      if (password !== undefined) {
        size += fieldSize(password);
        flags |= 0x40;
      }
      const out = allocate(0x10, size);
      // Protocol name "MQTT", level 4 (3.1.1), the flags, then the keep-alive.
      let offset = out.length - size;
      out.set([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags], offset);
      offset = writeField(out, writeUint16(out, offset + 8, keepalive), clientId);
      if (will) offset = writeField(out, writeField(out, offset, willTopic!), will.payload);
      if (username) offset = writeField(out, offset, username);
      if (password !== undefined) writeField(out, offset, password);
      return out;
    }
    case "publish": {
      const { topic, payload, qos, messageId } = packet;
      checkQoS(qos, 1);
      checkTopicName(topic);
      check(qos > 0 || !packet.dup, "dup is only for QoS 1");
      if (qos > 0) checkMessageId(messageId!);
      const topicBytes = stringBytes(topic);
      const size = fieldSize(topicBytes) + (qos > 0 ? 2 : 0) + payload.length;
      const out = allocate(0x30 | (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0), size);
      let offset = writeField(out, out.length - size, topicBytes);
      if (qos > 0) offset = writeUint16(out, offset, messageId!);
      out.set(payload, offset);
      return out;
    }
    case "puback": {
      checkMessageId(packet.messageId);
      const out = allocate(0x40, 2);
      writeUint16(out, 2, packet.messageId);
      return out;
    }
    case "subscribe":
    case "unsubscribe": {
      const subscribe = packet.cmd === "subscribe";
      const entries: readonly (Subscription | string)[] = subscribe ? packet.subscriptions : packet.unsubscriptions;
      checkMessageId(packet.messageId);
      check(entries.length > 0, "at least one topic filter");
      let size = 2;
      const filters: Uint8Array[] = [];
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i];
        const filter = typeof entry === "string" ? entry : (checkQoS(entry.qos, 2), entry.topic);
        check(filter.length > 0, "a topic filter is not empty");
        filters.push(stringBytes(filter));
        size += fieldSize(filters[i]) + (subscribe ? 1 : 0);
      }
      const out = allocate(subscribe ? 0x82 : 0xa2, size);
      let offset = writeUint16(out, out.length - size, packet.messageId);
      for (let i = 0; i < entries.length; i++) {
        offset = writeField(out, offset, filters[i]);
        const entry = entries[i];
        if (typeof entry !== "string") out[offset++] = entry.qos;
      }
      return out;
    }
    case "pingreq":
      return allocate(0xc0, 0);
    case "disconnect":
      return allocate(0xe0, 0);
    default:
      throw invalid("not a client packet");
  }
}
