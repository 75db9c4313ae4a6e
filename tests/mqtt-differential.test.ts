/**
 * Differential tests against mqtt-packet, the codec of MQTT.js and aedes:
 * - client packets: our encode() gives the same bytes as mqtt-packet's generate(), and
 *   mqtt-packet's parser reads them back as the packet we encoded;
 * - server packets: mqtt-packet's generate() output, cut at random points, decodes with our
 *   PacketDecoder to the packets it was generated from.
 *
 * Normalised before comparing: mqtt-packet's Buffers become plain Uint8Arrays; of its parsed
 * objects we keep only the fields our packet types have (dropping `length`, `topic: null`,
 * `payload: null`, and the `retain`/`qos`/`dup` header bits it reports on every packet type), after
 * asserting that a CONNECT says `protocolId` "MQTT" and `protocolVersion` 4.
 */
import fc from "fast-check";
import { generate, parser } from "mqtt-packet";
import { encode } from "../sdk/mqtt/encode";
import { PacketDecoder } from "../sdk/mqtt/decoder";
import type { ClientPacket, QoS, ServerPacket } from "../sdk/mqtt/packets";

const numRuns = 600;

const fieldsByCmd: Record<string, string[]> = {
  connect: ["clientId", "clean", "keepalive", "username", "password", "will"],
  publish: ["topic", "payload", "qos", "dup", "retain", "messageId"],
  puback: ["messageId"],
  subscribe: ["messageId", "subscriptions"],
  unsubscribe: ["messageId", "unsubscriptions"],
  connack: ["sessionPresent", "returnCode"],
  suback: ["messageId", "granted"],
  unsuback: ["messageId"],
  pingreq: [],
  pingresp: [],
  disconnect: [],
};

/** Deep copy with Buffers turned into Uint8Arrays and undefined fields left out. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) out[key] = plain(field);
  return out;
}

/** An mqtt-packet packet reduced to the fields of our packet type. */
function normalise(packet: Record<string, unknown>): unknown {
  const cmd = packet.cmd as string;
  if (cmd === "connect") {
    expect(packet.protocolId).toBe("MQTT");
    expect(packet.protocolVersion).toBe(4);
  }
  const kept: Record<string, unknown> = { cmd };
  for (const field of fieldsByCmd[cmd]) kept[field] = packet[field];
  if (cmd === "publish" && packet.qos === 0) delete kept.messageId;
  return plain(kept);
}

/** Our packet in the shape mqtt-packet's generate() takes: Buffers for binary fields. */
function forMqttPacket(packet: ClientPacket | ServerPacket): never {
  const buffers = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return Buffer.from(value);
    if (Array.isArray(value)) return value.map(buffers);
    if (typeof value !== "object" || value === null) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, buffers(v)]));
  };
  return buffers(packet) as never;
}

function parseWithMqttPacket(bytes: Uint8Array): Record<string, unknown>[] {
  const packets: Record<string, unknown>[] = [];
  const errors: Error[] = [];
  const mqttParser = parser({ protocolVersion: 4 });
  mqttParser.on("packet", (packet) => packets.push(packet as unknown as Record<string, unknown>));
  mqttParser.on("error", (error) => errors.push(error));
  mqttParser.parse(Buffer.from(bytes));
  expect(errors).toEqual([]);
  return packets;
}

// Strings of any Unicode scalar values (fast-check's "binary" unit has no lone surrogates).
const text = (minLength = 0) => fc.string({ unit: "binary", minLength, maxLength: 40 });
const topicName = text(1).filter((t) => !/[+#]/.test(t));
const bytes = fc.oneof(
  { weight: 40, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  // Crosses the 2- and 3-byte remaining length boundaries.
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 16300, maxLength: 16500 }) },
);
const messageId = fc.integer({ min: 1, max: 65535 });
const qos = (max: number) => fc.integer({ min: 0, max }).map((q) => q as QoS);

const connect: fc.Arbitrary<ClientPacket> = fc
  .record({
    clientId: text(),
    clean: fc.boolean(),
    keepalive: fc.integer({ min: 0, max: 65535 }),
    username: fc.option(text(), { nil: undefined }),
    password: fc.option(fc.uint8Array({ maxLength: 100 }), { nil: undefined }),
    will: fc.option(fc.record({ topic: topicName, payload: bytes, qos: qos(2), retain: fc.boolean() }), {
      nil: undefined,
    }),
  })
  .map((c) => ({
    cmd: "connect" as const,
    ...c,
    // MQTT 3.1.1: a password needs a username, an empty clientId needs a clean session.
    username: c.password !== undefined ? (c.username ?? "") : c.username,
    clean: c.clean || c.clientId === "",
  }));

const publish = (maxQoS: number) =>
  fc
    .record({ topic: topicName, payload: bytes, qos: qos(maxQoS), dup: fc.boolean(), retain: fc.boolean(), messageId })
    .map(({ messageId: id, ...p }) =>
      p.qos === 0 ? { cmd: "publish" as const, ...p, dup: false } : { cmd: "publish" as const, ...p, messageId: id },
    );

const clientPackets: Record<string, fc.Arbitrary<ClientPacket>> = {
  connect,
  publish: publish(1),
  puback: messageId.map((id) => ({ cmd: "puback" as const, messageId: id })),
  subscribe: fc.record({
    cmd: fc.constant("subscribe" as const),
    messageId,
    subscriptions: fc.array(fc.record({ topic: text(1), qos: qos(2) }), { minLength: 1, maxLength: 8 }),
  }),
  unsubscribe: fc.record({
    cmd: fc.constant("unsubscribe" as const),
    messageId,
    unsubscriptions: fc.array(text(1), { minLength: 1, maxLength: 8 }),
  }),
  pingreq: fc.constant({ cmd: "pingreq" as const }),
  disconnect: fc.constant({ cmd: "disconnect" as const }),
};

const serverPackets: Record<string, fc.Arbitrary<ServerPacket>> = {
  connack: fc.record({ sessionPresent: fc.boolean(), returnCode: fc.integer({ min: 0, max: 5 }) }).map((c) => ({
    cmd: "connack" as const,
    returnCode: c.returnCode,
    sessionPresent: c.sessionPresent && c.returnCode === 0,
  })),
  publish: publish(2),
  puback: messageId.map((id) => ({ cmd: "puback" as const, messageId: id })),
  suback: fc.record({
    cmd: fc.constant("suback" as const),
    messageId,
    granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 8 }),
  }),
  unsuback: messageId.map((id) => ({ cmd: "unsuback" as const, messageId: id })),
  pingresp: fc.constant({ cmd: "pingresp" as const }),
};

/** Cuts `stream` at the given points (taken modulo its length, in any order). */
function split(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  return [0, ...points].map((start, i) => stream.slice(start, i < points.length ? points[i] : stream.length));
}

describe.each(Object.entries(clientPackets))("client packet %s", (_cmd, arbitrary) => {
  test("our encoding is mqtt-packet's, and mqtt-packet parses it back field by field", () => {
    fc.assert(
      fc.property(arbitrary, (packet) => {
        const ours = encode(packet);
        expect(Buffer.from(ours).equals(generate(forMqttPacket(packet)))).toBe(true);
        const parsed = parseWithMqttPacket(ours);
        expect(parsed.map(normalise)).toEqual([plain(packet)]);
      }),
      { numRuns },
    );
  });
});

describe.each(Object.entries(serverPackets))("server packet %s", (_cmd, arbitrary) => {
  test("mqtt-packet's encoding, cut anywhere, decodes field by field", () => {
    fc.assert(
      fc.property(
        fc.array(arbitrary, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (packets, cuts) => {
          const stream = Buffer.concat(packets.map((p) => generate(forMqttPacket(p))));
          const decoder = new PacketDecoder({ maxPacketSize: 20000 });
          const decoded: ServerPacket[] = [];
          for (const chunk of split(stream, cuts)) expect(decoder.push(chunk, (p) => decoded.push(p))).toBeUndefined();
          expect(decoded.map(plain)).toEqual(packets.map(plain));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns },
    );
  });
});
