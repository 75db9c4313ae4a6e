/**
 * A tiny portable MQTT 3.1.1 wire helper for scenarios, written apart from sdk/mqtt so the client
 * is checked against an independent reading of the format: it builds the bytes a server sends and
 * parses the bytes a client writes. Throws on anything it does not understand (tests only).
 */
import type { ClientPacket, ServerPacket } from "../../sdk/mqtt/packets";
import { utf8Decode, utf8Encode } from "../../sdk/utf8";

function frame(header: number, body: number[]): Uint8Array {
  const length: number[] = [];
  let n = body.length;
  do {
    length.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Uint8Array.from([header, ...length, ...body]);
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const str = (s: string) => {
  const bytes = utf8Encode(s);
  return [...u16(bytes.length), ...bytes];
};

/** The bytes of one server packet. */
export function serverBytes(packet: ServerPacket): Uint8Array {
  switch (packet.cmd) {
    case "connack":
      return frame(0x20, [packet.sessionPresent ? 1 : 0, packet.returnCode]);
    case "publish": {
      const flags = (packet.dup ? 8 : 0) | (packet.qos << 1) | (packet.retain ? 1 : 0);
      const id = packet.qos > 0 ? u16(packet.messageId!) : [];
      return frame(0x30 | flags, [...str(packet.topic), ...id, ...packet.payload]);
    }
    case "puback":
      return frame(0x40, u16(packet.messageId));
    case "suback":
      return frame(0x90, [...u16(packet.messageId), ...packet.granted]);
    case "unsuback":
      return frame(0xb0, u16(packet.messageId));
    case "pingresp":
      return frame(0xd0, []);
  }
}

/** Parses every complete client packet in `bytes`. */
export function parseClientPackets(bytes: Uint8Array): ClientPacket[] {
  const packets: ClientPacket[] = [];
  let at = 0;
  while (at < bytes.length) {
    const header = bytes[at++];
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      length += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    const end = at + length;
    if (end > bytes.length) throw new Error("truncated client packet");
    let p = at;
    const readU16 = () => ((p += 2), (bytes[p - 2] << 8) | bytes[p - 1]);
    const readBytes = () => {
      const n = readU16();
      p += n;
      return bytes.slice(p - n, p);
    };
    const readString = () => {
      const text = utf8Decode(readBytes());
      if (text === undefined) throw new Error("invalid UTF-8 from the client");
      return text;
    };
    const type = header >> 4;
    if (type === 1) {
      if (readString() !== "MQTT" || bytes[p++] !== 4) throw new Error("not MQTT 3.1.1");
      const flags = bytes[p++];
      const keepalive = readU16();
      const clientId = readString();
      const will =
        flags & 4
          ? {
              topic: readString(),
              payload: readBytes(),
              qos: ((flags >> 3) & 3) as 0 | 1 | 2,
              retain: !!(flags & 0x20),
            }
          : undefined;
      const username = flags & 0x80 ? readString() : undefined;
      const password = flags & 0x40 ? readBytes() : undefined;
      packets.push({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId,
        clean: !!(flags & 2),
        keepalive,
        username,
        password,
        will,
      });
    } else if (type === 3) {
      const qos = ((header >> 1) & 3) as 0 | 1 | 2;
      const topic = readString();
      const messageId = qos > 0 ? readU16() : undefined;
      packets.push({
        cmd: "publish",
        topic,
        payload: bytes.slice(p, end),
        qos,
        dup: !!(header & 8),
        retain: !!(header & 1),
        messageId,
      });
      p = end;
    } else if (type === 4) {
      packets.push({ cmd: "puback", messageId: readU16() });
    } else if (type === 8) {
      const messageId = readU16();
      const subscriptions = [];
      while (p < end) subscriptions.push({ topic: readString(), qos: bytes[p++] as 0 | 1 | 2 });
      packets.push({ cmd: "subscribe", messageId, subscriptions });
    } else if (type === 10) {
      const messageId = readU16();
      const unsubscriptions = [];
      while (p < end) unsubscriptions.push(readString());
      packets.push({ cmd: "unsubscribe", messageId, unsubscriptions });
    } else if (type === 12) {
      packets.push({ cmd: "pingreq" });
    } else if (type === 14) {
      packets.push({ cmd: "disconnect" });
    } else {
      throw new Error(`unexpected client packet type ${type}`);
    }
    if (p !== end) throw new Error(`client packet type ${type}: ${end - p} bytes left over`);
    at = end;
  }
  return packets;
}
