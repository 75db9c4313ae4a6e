/**
 * Fuzzes PacketDecoder with mutated valid streams and random bytes, cut at random points, under
 * random maxPacketSize limits: it never throws, fails only with a known MqttProtocolError, never
 * holds more than maxPacketSize bytes, stays failed until reset() and then decodes valid input
 * again. Whatever it does accept, mqtt-packet's parser reads the same way.
 */
import fc from "fast-check";
import { generate, parser, type Packet } from "mqtt-packet";
import { PacketDecoder } from "../sdk/mqtt/decoder";
import { MqttProtocolError, type MqttProtocolErrorCode } from "../sdk/mqtt/errors";
import type { ServerPacket } from "../sdk/mqtt/packets";

const decoderErrorCodes: MqttProtocolErrorCode[] = [
  "malformed-remaining-length",
  "bad-flags",
  "unknown-packet-type",
  "truncated",
  "invalid-utf8",
  "packet-too-large",
  "invalid-field",
];

// Valid server packets to mutate, one of each kind and size class.
const corpus: Buffer[] = (
  [
    { cmd: "connack", sessionPresent: true, returnCode: 0 },
    { cmd: "connack", sessionPresent: false, returnCode: 4 },
    {
      cmd: "publish",
      topic: "prov/dev-1/res/init",
      payload: Buffer.from('{"ok":true}'),
      qos: 0,
      dup: false,
      retain: false,
    },
    { cmd: "publish", topic: "a/é/😀", payload: Buffer.alloc(200, 7), qos: 1, dup: true, retain: true, messageId: 513 },
    { cmd: "publish", topic: "t", payload: Buffer.alloc(300, 1), qos: 2, dup: false, retain: false, messageId: 65535 },
    { cmd: "puback", messageId: 1 },
    { cmd: "suback", messageId: 2, granted: [0, 1, 2, 128] },
    { cmd: "unsuback", messageId: 3 },
    { cmd: "pingresp" },
  ] as Packet[]
).map((p) => generate(p));

const mutatedStream = fc
  .tuple(
    fc.array(fc.constantFrom(...corpus), { minLength: 1, maxLength: 5 }),
    fc.array(
      fc.record({
        kind: fc.constantFrom("set", "insert", "delete"),
        at: fc.nat(),
        value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x7f, 0x80, 0xc0, 0xed, 0xff)),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([packets, mutations]) => {
    const bytes = [...Buffer.concat(packets)];
    for (const { kind, at, value } of mutations) {
      const i = at % (bytes.length + 1);
      if (kind === "set") bytes[Math.min(i, bytes.length - 1)] = value;
      else if (kind === "insert") bytes.splice(i, 0, value);
      else bytes.splice(i, 1);
    }
    return new Uint8Array(bytes);
  });

const anyStream = fc.oneof(mutatedStream, fc.uint8Array({ maxLength: 400 }));

/** Cuts `stream` into chunks of the given sizes, taken in turn (none: one chunk). */
function* chunks(stream: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  for (let start = 0, turn = 0; ; turn++) {
    const end = sizes.length ? start + sizes[turn % sizes.length] : stream.length;
    yield stream.subarray(start, end);
    if (end >= stream.length) return;
    start = end;
  }
}

/** What mqtt-packet makes of a stream: its packets up to its first error. */
function mqttPacketParse(stream: Uint8Array): unknown[] {
  const packets: unknown[] = [];
  const mqttParser = parser({ protocolVersion: 4 });
  let failed = false;
  mqttParser.on("packet", (p) => {
    if (!failed) packets.push(p);
  });
  mqttParser.on("error", () => (failed = true));
  mqttParser.parse(Buffer.from(stream));
  return packets;
}

/** Our decoded packet and mqtt-packet's agree on every field ours has. */
function sameAsMqttPacket(ours: ServerPacket, theirs: Record<string, unknown>): boolean {
  return Object.entries(ours).every(([key, value]) =>
    value instanceof Uint8Array
      ? Buffer.from(value).equals(theirs[key] as Buffer)
      : JSON.stringify(value) === JSON.stringify(theirs[key]),
  );
}

test("the decoder survives mutated and random input within its bounds", () => {
  fc.assert(
    fc.property(
      anyStream,
      fc.array(fc.integer({ min: 1, max: 80 }), { maxLength: 6 }),
      fc.integer({ min: 2, max: 600 }),
      (stream, sizes, maxPacketSize) => {
        const decoder = new PacketDecoder({ maxPacketSize });
        const decoded: ServerPacket[] = [];
        let error: MqttProtocolError | undefined;
        for (const chunk of chunks(stream, sizes)) {
          const result = decoder.push(chunk, (p) => decoded.push(p));
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(maxPacketSize);
          if (error) expect(result).toBe(error);
          else if (result) {
            expect(result).toBeInstanceOf(MqttProtocolError);
            expect(decoderErrorCodes).toContain(result.code);
            error = result;
          }
        }
        // What we accepted, mqtt-packet reads the same (it is laxer, so not the other way round).
        const theirs = mqttPacketParse(stream) as Record<string, unknown>[];
        expect(theirs.length).toBeGreaterThanOrEqual(decoded.length);
        decoded.forEach((packet, i) => expect(sameAsMqttPacket(packet, theirs[i])).toBe(true));

        decoder.reset();
        expect(decoder.bufferedBytes).toBe(0);
        const fitting = corpus.filter((p) => p.length <= maxPacketSize);
        const afterReset: ServerPacket[] = [];
        expect(decoder.push(new Uint8Array(Buffer.concat(fitting)), (p) => afterReset.push(p))).toBeUndefined();
        expect(afterReset).toHaveLength(fitting.length);
        const expected = mqttPacketParse(Buffer.concat(fitting)) as Record<string, unknown>[];
        afterReset.forEach((packet, i) => expect(sameAsMqttPacket(packet, expected[i])).toBe(true));
      },
    ),
    { numRuns: 2000 },
  );
});
