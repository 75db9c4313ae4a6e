import { encode } from "../../sdk/mqtt/encode";
import { PacketDecoder } from "../../sdk/mqtt/decoder";
import { MqttProtocolError, type MqttProtocolErrorCode } from "../../sdk/mqtt/errors";
import type { ClientPacket, PublishPacket, ServerPacket } from "../../sdk/mqtt/packets";
import { utf8Encode } from "../../sdk/utf8";
import { scenario, type Check } from "./harness";

function hex(text: string): Uint8Array {
  return new Uint8Array(
    text
      .split(" ")
      .filter((h) => h)
      .map((h) => parseInt(h, 16)),
  );
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Pushes the chunks into a fresh decoder; returns the packets and the first error. */
function decodeChunks(chunks: Uint8Array[], maxPacketSize?: number) {
  const decoder = new PacketDecoder({ maxPacketSize });
  const packets: ServerPacket[] = [];
  let error: MqttProtocolError | undefined;
  for (const chunk of chunks) {
    error = decoder.push(chunk, (packet) => packets.push(packet));
    if (error) break;
  }
  return { packets, error, decoder };
}

function oneByteAtATime(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (b) => new Uint8Array([b]));
}

function expectEncodeError(check: Check, packet: ClientPacket, why: string): void {
  try {
    encode(packet);
    check.ok(false, `encode accepted: ${why}`);
  } catch (e) {
    check.ok(e instanceof MqttProtocolError && e.code === "invalid-packet", `encode error for: ${why}`);
  }
}

const none = new Uint8Array(0);

// Variable headers and payloads from the examples of the MQTT 3.1.1 specification (figures 3.6,
// 3.11, 3.22, 3.26, 3.29), with the fixed headers counted by hand.
const clientCases: [ClientPacket, string][] = [
  [
    { cmd: "connect", clientId: "dev1", clean: true, keepalive: 60 },
    "10 10 00 04 4d 51 54 54 04 02 00 3c 00 04 64 65 76 31",
  ],
  [
    // Figure 3.6: flags CE = username, password, will QoS 1, will, clean session; keepalive 10.
    {
      cmd: "connect",
      clientId: "c",
      clean: true,
      keepalive: 10,
      will: { topic: "w", payload: hex("01 02"), qos: 1, retain: false },
      username: "u",
      password: hex("70"),
    },
    "10 1a 00 04 4d 51 54 54 04 ce 00 0a 00 01 63 00 01 77 00 02 01 02 00 01 75 00 01 70",
  ],
  [
    {
      cmd: "connect",
      clientId: "c",
      clean: false,
      keepalive: 0,
      will: { topic: "w", payload: none, qos: 2, retain: true },
      username: "",
    },
    "10 14 00 04 4d 51 54 54 04 b4 00 00 00 01 63 00 01 77 00 00 00 00",
  ],
  [
    { cmd: "publish", topic: "a/b", payload: hex("68 69"), qos: 0, dup: false, retain: false },
    "30 07 00 03 61 2f 62 68 69",
  ],
  [
    { cmd: "publish", topic: "a/b", payload: none, qos: 1, dup: true, retain: true, messageId: 10 },
    "3b 07 00 03 61 2f 62 00 0a",
  ],
  [{ cmd: "publish", topic: "é", payload: none, qos: 0, dup: false, retain: true }, "31 04 00 02 c3 a9"],
  [{ cmd: "puback", messageId: 0x1234 }, "40 02 12 34"],
  [
    {
      cmd: "subscribe",
      messageId: 10,
      subscriptions: [
        { topic: "a/b", qos: 1 },
        { topic: "c/d", qos: 2 },
      ],
    },
    "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02",
  ],
  [{ cmd: "unsubscribe", messageId: 10, unsubscriptions: ["a/b", "c/d"] }, "a2 0c 00 0a 00 03 61 2f 62 00 03 63 2f 64"],
  [{ cmd: "pingreq" }, "c0 00"],
  [{ cmd: "disconnect" }, "e0 00"],
];

scenario("mqtt codec: encodes every client packet to the spec's bytes", (check) => {
  for (const [packet, bytes] of clientCases) check.deepEqual(encode(packet), hex(bytes), `${packet.cmd} ${bytes}`);
});

scenario("mqtt codec: encode refuses packets MQTT cannot represent", (check) => {
  const publish = { cmd: "publish", topic: "t", payload: none, qos: 1, dup: false, retain: false } as const;
  const connect = { cmd: "connect", clientId: "c", clean: true, keepalive: 60 } as const;
  expectEncodeError(check, { ...publish, messageId: 0 }, "messageId 0");
  expectEncodeError(check, { ...publish, messageId: 65536 }, "messageId 65536");
  expectEncodeError(check, { ...publish, messageId: 1.5 }, "fractional messageId");
  expectEncodeError(check, { ...publish, messageId: undefined }, "QoS 1 without messageId");
  expectEncodeError(check, { ...publish, qos: 2, messageId: 1 }, "QoS 2 publish");
  expectEncodeError(check, { ...publish, qos: 0, dup: true }, "dup on QoS 0");
  expectEncodeError(check, { ...publish, qos: 0, topic: "" }, "empty topic");
  expectEncodeError(check, { ...publish, qos: 0, topic: "a/+" }, "wildcard in a topic name");
  expectEncodeError(check, { ...publish, qos: 0, topic: "a/#" }, "multi-level wildcard in a topic name");
  // 32768 characters but 65536 bytes: the limit is on encoded bytes.
  expectEncodeError(check, { ...publish, qos: 0, topic: "é".repeat(32768) }, "topic of 65536 bytes");
  check.equal(
    encode({ ...publish, qos: 0, topic: "é".repeat(32767) + "a" }).length,
    2 + 4 + 65535 + 0,
    "topic of 65535 bytes",
  );
  expectEncodeError(check, { cmd: "subscribe", messageId: 1, subscriptions: [] }, "no subscriptions");
  expectEncodeError(
    check,
    { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a", qos: 3 as 0 }] },
    "subscription QoS 3",
  );
  expectEncodeError(
    check,
    { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "", qos: 0 }] },
    "empty topic filter",
  );
  expectEncodeError(check, { cmd: "unsubscribe", messageId: 1, unsubscriptions: [] }, "no unsubscriptions");
  expectEncodeError(check, { cmd: "unsubscribe", messageId: 0, unsubscriptions: ["a"] }, "unsubscribe messageId 0");
  expectEncodeError(check, { cmd: "puback", messageId: 0 }, "puback messageId 0");
  expectEncodeError(check, { ...connect, keepalive: 65536 }, "keepalive 65536");
  expectEncodeError(check, { ...connect, keepalive: -1 }, "negative keepalive");
  expectEncodeError(check, { ...connect, password: hex("01") }, "password without username");
  expectEncodeError(check, { ...connect, clientId: "", clean: false }, "empty clientId with a persistent session");
  expectEncodeError(check, { ...connect, username: "u", password: new Uint8Array(65536) }, "password of 65536 bytes");
  expectEncodeError(
    check,
    { ...connect, will: { topic: "w", payload: none, qos: 3 as 0, retain: false } },
    "will QoS 3",
  );
  expectEncodeError(
    check,
    { ...connect, will: { topic: "w/#", payload: none, qos: 0, retain: false } },
    "wildcard in will topic",
  );
  expectEncodeError(check, { cmd: "pubrec" } as unknown as ClientPacket, "a packet type a client does not send");
});

const serverCases: [string, ServerPacket][] = [
  ["20 02 00 00", { cmd: "connack", sessionPresent: false, returnCode: 0 }],
  ["20 02 01 00", { cmd: "connack", sessionPresent: true, returnCode: 0 }],
  ["20 02 00 05", { cmd: "connack", sessionPresent: false, returnCode: 5 }],
  [
    "30 07 00 03 61 2f 62 68 69",
    { cmd: "publish", topic: "a/b", payload: hex("68 69"), qos: 0, dup: false, retain: false },
  ],
  [
    "3b 09 00 03 61 2f 62 00 0a 00 ff",
    { cmd: "publish", topic: "a/b", payload: hex("00 ff"), qos: 1, dup: true, retain: true, messageId: 10 },
  ],
  [
    "34 0b 00 03 c3 a9 2f 00 07 f0 9f 98 80",
    { cmd: "publish", topic: "é/", payload: utf8Encode("\u{1f600}"), qos: 2, dup: false, retain: false, messageId: 7 },
  ],
  ["40 02 12 34", { cmd: "puback", messageId: 0x1234 }],
  ["90 05 00 0a 00 02 80", { cmd: "suback", messageId: 10, granted: [0, 2, 0x80] }],
  ["90 03 ff ff 01", { cmd: "suback", messageId: 65535, granted: [1] }],
  ["b0 02 00 0a", { cmd: "unsuback", messageId: 10 }],
  ["d0 00", { cmd: "pingresp" }],
];

const serverStream = concat(serverCases.map(([bytes]) => hex(bytes)));
const serverPackets = serverCases.map(([, packet]) => packet);

scenario("mqtt codec: decodes every server packet", (check) => {
  for (const [bytes, packet] of serverCases) {
    const { packets, error } = decodeChunks([hex(bytes)]);
    check.equal(error, undefined, bytes);
    check.deepEqual(packets, [packet], bytes);
  }
});

scenario("mqtt codec: decodes many packets in one chunk, payloads are views of it, not copies", (check) => {
  const chunk = serverStream.slice();
  const { packets, error } = decodeChunks([chunk]);
  check.equal(error, undefined);
  check.deepEqual(packets, serverPackets);
  const publishes = packets.filter((p): p is PublishPacket => p.cmd === "publish");
  check.ok(publishes.length > 0 && publishes.every((p) => p.payload.buffer === chunk.buffer), "no payload was copied");
});

scenario("mqtt codec: decodes the stream split at every pair of byte boundaries", (check) => {
  const n = serverStream.length;
  for (let i = 0; i <= n; i++) {
    for (let j = i; j <= n; j++) {
      const chunks = [serverStream.slice(0, i), serverStream.slice(i, j), serverStream.slice(j)];
      const { packets, error, decoder } = decodeChunks(chunks);
      check.equal(error, undefined, `split at ${i}, ${j}`);
      check.deepEqual(packets, serverPackets, `split at ${i}, ${j}`);
      check.equal(decoder.bufferedBytes, 0, `nothing left buffered after ${i}, ${j}`);
    }
  }
  const { packets } = decodeChunks(oneByteAtATime(serverStream));
  check.deepEqual(packets, serverPackets, "one byte at a time");
});

const malformed: [string, string, MqttProtocolErrorCode][] = [
  ["remaining length over 4 bytes", "30 ff ff ff ff 01", "malformed-remaining-length"],
  ["reserved type 0", "00 00", "unknown-packet-type"],
  ["reserved type 15", "f0 00", "unknown-packet-type"],
  ["CONNECT from a server", "10 00", "unknown-packet-type"],
  ["PUBREC (we never publish QoS 2)", "50 02 00 01", "unknown-packet-type"],
  ["PUBREL", "62 02 00 01", "unknown-packet-type"],
  ["SUBSCRIBE from a server", "82 00", "unknown-packet-type"],
  ["PINGREQ from a server", "c0 00", "unknown-packet-type"],
  ["DISCONNECT from a server", "e0 00", "unknown-packet-type"],
  ["CONNACK with flags", "21 02 00 00", "bad-flags"],
  ["PUBACK with flags", "42 02 00 01", "bad-flags"],
  ["SUBACK with flags", "92 03 00 01 00", "bad-flags"],
  ["UNSUBACK with flags", "b2 02 00 01", "bad-flags"],
  ["PINGRESP with flags", "d1 00", "bad-flags"],
  ["PUBLISH QoS 0 with dup", "38 03 00 01 61", "bad-flags"],
  ["PUBLISH QoS 3", "36 05 00 01 61 00 01", "invalid-field"],
  ["CONNACK too short", "20 01 00", "truncated"],
  ["CONNACK with a leftover byte", "20 03 00 00 00", "truncated"],
  ["CONNACK with reserved flag bits", "20 02 02 00", "invalid-field"],
  ["CONNACK return code 6", "20 02 00 06", "invalid-field"],
  ["CONNACK session present on a refusal", "20 02 01 05", "invalid-field"],
  ["PUBLISH without a topic length", "30 01 00", "truncated"],
  ["PUBLISH topic past the packet", "30 03 00 05 61", "truncated"],
  ["PUBLISH QoS 1 without a messageId", "32 03 00 01 61", "truncated"],
  ["PUBLISH QoS 1 with half a messageId", "32 04 00 01 61 00", "truncated"],
  ["PUBLISH QoS 1 messageId 0", "32 05 00 01 61 00 00", "invalid-field"],
  ["PUBLISH QoS 2 messageId 0", "34 05 00 01 61 00 00", "invalid-field"],
  ["PUBLISH overlong topic", "30 04 00 02 c0 80", "invalid-utf8"],
  ["PUBLISH surrogate in topic", "30 05 00 03 ed a0 80", "invalid-utf8"],
  ["PUBLISH truncated character in topic", "30 04 00 02 61 e2", "invalid-utf8"],
  ["PUBACK too short", "40 01 00", "truncated"],
  ["PUBACK with a leftover byte", "40 03 00 01 00", "truncated"],
  ["PUBACK messageId 0", "40 02 00 00", "invalid-field"],
  ["UNSUBACK messageId 0", "b0 02 00 00", "invalid-field"],
  ["UNSUBACK with a leftover byte", "b0 03 00 01 00", "truncated"],
  ["SUBACK without return codes", "90 02 00 01", "truncated"],
  ["SUBACK messageId 0", "90 03 00 00 00", "invalid-field"],
  ["SUBACK return code 3", "90 03 00 01 03", "invalid-field"],
  ["SUBACK return code 0x81", "90 04 00 01 00 81", "invalid-field"],
  ["PINGRESP with a body", "d0 01 00", "truncated"],
  ["packet larger than maxPacketSize", "30 ff 3f", "packet-too-large"],
];

scenario("mqtt codec: each malformed packet gives its error code, whatever the split", (check) => {
  for (const [name, bytes, code] of malformed) {
    // After a valid packet, so the decoder must have left its previous packet cleanly.
    const stream = concat([hex("d0 00"), hex(bytes), hex("d0 00")]);
    for (const chunks of [[stream], oneByteAtATime(stream)]) {
      const { packets, error } = decodeChunks(chunks);
      check.ok(error instanceof MqttProtocolError, `${name}: an MqttProtocolError`);
      check.equal(error?.code, code, name);
      check.deepEqual(packets, [{ cmd: "pingresp" }], `${name}: only the packet before it`);
    }
  }
});

scenario("mqtt codec: a failed decoder stays failed until reset", (check) => {
  const decoder = new PacketDecoder();
  const packets: ServerPacket[] = [];
  const error = decoder.push(hex("40 02 00 00 d0 00"), (p) => packets.push(p));
  check.equal(error?.code, "invalid-field");
  check.equal(
    decoder.push(hex("d0 00"), (p) => packets.push(p)),
    error,
    "the same error on a later push",
  );
  check.equal(packets.length, 0, "nothing decoded after the error");
  decoder.reset();
  check.equal(
    decoder.push(hex("d0 00"), (p) => packets.push(p)),
    undefined,
    "after reset",
  );
  check.deepEqual(packets, [{ cmd: "pingresp" }]);
});

scenario("mqtt codec: reset forgets a partial packet", (check) => {
  const decoder = new PacketDecoder();
  const packets: ServerPacket[] = [];
  decoder.push(hex("30 07 00 03 61"), (p) => packets.push(p));
  check.equal(decoder.bufferedBytes, 7, "the body buffer, sized once the remaining length is known");
  decoder.reset();
  check.equal(decoder.bufferedBytes, 0);
  check.equal(
    decoder.push(hex("b0 02 00 0a"), (p) => packets.push(p)),
    undefined,
  );
  check.deepEqual(packets, [{ cmd: "unsuback", messageId: 10 }]);
});

scenario("mqtt codec: a reset from onPacket drops the rest of the chunk", (check) => {
  const decoder = new PacketDecoder();
  const packets: ServerPacket[] = [];
  const error = decoder.push(hex("40 02 00 01 40 02 00 02"), (p) => {
    packets.push(p);
    decoder.reset();
  });
  check.equal(error, undefined);
  check.deepEqual(packets, [{ cmd: "puback", messageId: 1 }]);
});

scenario("mqtt codec: maxPacketSize bounds the packet and the buffer", (check) => {
  const publish = (payloadLength: number) =>
    encode({ cmd: "publish", topic: "t", payload: new Uint8Array(payloadLength), qos: 0, dup: false, retain: false });
  check.equal(publish(11).length, 16);
  for (const chunks of [[publish(11)], oneByteAtATime(publish(11))]) {
    const { packets, error } = decodeChunks(chunks, 16);
    check.equal(error, undefined, "a packet of exactly maxPacketSize");
    check.equal(packets.length, 1);
  }
  const decoder = new PacketDecoder({ maxPacketSize: 16 });
  let error: MqttProtocolError | undefined;
  for (const chunk of oneByteAtATime(publish(12))) {
    error = decoder.push(chunk, () => check.ok(false, "no packet"));
    check.ok(decoder.bufferedBytes <= 16, "never buffers more than maxPacketSize");
  }
  check.equal(error?.code, "packet-too-large", "one byte over maxPacketSize");
  check.equal(decoder.bufferedBytes, 0, "refused before buffering the body");
  // The largest remaining length MQTT allows is refused from its header alone.
  check.equal(decodeChunks([hex("30 ff ff ff 7f")]).error?.code, "packet-too-large");
  check.equal(decodeChunks([hex("d0 00")], 1).error?.code, "packet-too-large");
});

scenario("mqtt codec: remaining length at each boundary of its encoding", (check) => {
  const boundaries: [number, string][] = [
    [0, "00"],
    [127, "7f"],
    [128, "80 01"],
    [16383, "ff 7f"],
    [16384, "80 80 01"],
    [2097151, "ff ff 7f"],
    [2097152, "80 80 80 01"],
  ];
  for (const [remaining, lengthBytes] of boundaries) {
    if (remaining === 0) {
      check.deepEqual(encode({ cmd: "pingreq" }), hex("c0 00"));
      continue;
    }
    // Topic "t" takes 3 bytes; the payload fills the rest.
    const packet: ServerPacket = {
      cmd: "publish",
      topic: "t",
      payload: new Uint8Array(remaining - 3),
      qos: 0,
      dup: false,
      retain: false,
    };
    packet.payload.fill(0x5a);
    const bytes = encode(packet);
    const header = hex(lengthBytes);
    check.equal(bytes.length, 1 + header.length + remaining, `size for ${remaining}`);
    check.deepEqual(bytes.subarray(1, 1 + header.length), header, `remaining length ${remaining}`);
    // Whole (parsed in place), then split after the first length byte (gathered in a buffer).
    for (const cut of [bytes.length, 2]) {
      const { packets, error } = decodeChunks([bytes.subarray(0, cut), bytes.subarray(cut)], bytes.length);
      check.equal(error, undefined, `decode ${remaining} cut at ${cut}`);
      check.deepEqual(packets, [packet], `decode ${remaining} cut at ${cut}`);
    }
    check.equal(decodeChunks([bytes], bytes.length - 1).error?.code, "packet-too-large", `${remaining} over the limit`);
  }
});
