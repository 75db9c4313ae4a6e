/**
 * Encode and decode throughput of our MQTT codec against mqtt-packet, on one packet mix:
 * PUBLISH with 16 B, 256 B and 4 KiB payloads, PUBACK, SUBSCRIBE and CONNECT encoded; the same
 * PUBLISHes and PUBACK decoded, with SUBACK and CONNACK (the server's side of SUBSCRIBE and
 * CONNECT, since a client never decodes those two). Both codecs get the same bytes, rounds
 * alternate between them, and each packet is a push/parse of its own, as when each arrives in
 * its own TCP read. Neither copies a payload: both hand out views of the bytes they were given.
 * Run alone: `npm run bench -- mqtt-codec`.
 */
import { performance } from "node:perf_hooks";
import { generate, parser, type Packet } from "mqtt-packet";
import { PacketDecoder } from "../sdk/mqtt/decoder";
import { encode } from "../sdk/mqtt/encode";
import type { ClientPacket, ServerPacket } from "../sdk/mqtt/packets";

const rounds = 20;
/** Rounds run first and not counted, while V8 compiles both codecs' hot paths. */
const warmupRounds = 4;
const batchMs = 60;

function payload(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff);
}

const publishes: ClientPacket[] = [16, 256, 4096].map((size, i) => ({
  cmd: "publish",
  topic: `devices/esp32-${i}/telemetry`,
  payload: payload(size),
  qos: 1,
  dup: false,
  retain: false,
  messageId: 100 + i,
}));

const clientPackets: ClientPacket[] = [
  ...publishes,
  { cmd: "puback", messageId: 7 },
  {
    cmd: "subscribe",
    messageId: 8,
    subscriptions: [
      { topic: "devices/esp32-0/commands/#", qos: 1 },
      { topic: "prov/esp32-0/res/+", qos: 0 },
    ],
  },
  {
    cmd: "connect",
    clientId: "workspace-1:esp32-0",
    clean: true,
    keepalive: 60,
    username: "esp32-0",
    password: payload(64),
  },
];

const serverPackets: ServerPacket[] = [
  ...(publishes as ServerPacket[]),
  { cmd: "puback", messageId: 7 },
  { cmd: "suback", messageId: 8, granted: [1, 0] },
  { cmd: "connack", sessionPresent: false, returnCode: 0 },
];

/** The same packets as mqtt-packet takes them: Buffers for binary fields. */
function asMqttPacket(packet: ClientPacket | ServerPacket): Packet {
  const copy: Record<string, unknown> = { ...packet };
  if ("payload" in packet) copy.payload = Buffer.from(packet.payload);
  if ("password" in packet && packet.password) copy.password = Buffer.from(packet.password);
  return copy as unknown as Packet;
}

interface Contender {
  encode: () => number;
  decode: () => number;
}

function ours(): Contender {
  const wire = serverPackets.map((p) => generate(asMqttPacket(p))).map((b) => new Uint8Array(b));
  const decoder = new PacketDecoder({ maxPacketSize: 8192 });
  let decoded = 0;
  const onPacket = () => decoded++;
  return {
    encode() {
      let bytes = 0;
      for (const packet of clientPackets) bytes += encode(packet).length;
      return bytes;
    },
    decode() {
      decoded = 0;
      for (const bytes of wire) decoder.push(bytes, onPacket);
      return decoded;
    },
  };
}

function mqttPacket(): Contender {
  const packets = clientPackets.map(asMqttPacket);
  const wire = serverPackets.map((p) => generate(asMqttPacket(p)));
  const mqttParser = parser({ protocolVersion: 4 });
  let decoded = 0;
  mqttParser.on("packet", () => decoded++);
  return {
    encode() {
      let bytes = 0;
      for (const packet of packets) bytes += generate(packet).length;
      return bytes;
    },
    decode() {
      decoded = 0;
      for (const bytes of wire) mqttParser.parse(bytes);
      return decoded;
    },
  };
}

/** Runs `pass` (one pass over the packet set) for about batchMs; returns passes and elapsed ms. */
function batch(pass: () => number, expected: number): { passes: number; ms: number } {
  const start = performance.now();
  let passes = 0;
  let elapsed: number;
  do {
    for (let i = 0; i < 50; i++) {
      if (pass() !== expected) throw new Error("a codec gave a different result");
      passes++;
    }
    elapsed = performance.now() - start;
  } while (elapsed < batchMs);
  return { passes, ms: elapsed };
}

export async function run(): Promise<{ name: string; results: Record<string, unknown>; summary: string }> {
  const contenders = { ours: ours(), mqttPacket: mqttPacket() };
  const encodedBytes = contenders.mqttPacket.encode();
  if (contenders.ours.encode() !== encodedBytes) throw new Error("the codecs encode different sizes");
  const totals = { ours: { encode: [0, 0], decode: [0, 0] }, mqttPacket: { encode: [0, 0], decode: [0, 0] } };
  // The first rounds warm up both and are not counted; rounds alternate which codec goes first.
  for (let round = 1 - warmupRounds; round <= rounds; round++) {
    const order = round % 2 ? (["ours", "mqttPacket"] as const) : (["mqttPacket", "ours"] as const);
    for (const name of order) {
      for (const op of ["encode", "decode"] as const) {
        const expected = op === "encode" ? encodedBytes : serverPackets.length;
        const { passes, ms } = batch(contenders[name][op], expected);
        if (round > 0) {
          totals[name][op][0] += passes;
          totals[name][op][1] += ms;
        }
      }
    }
  }
  const perSecond = (name: "ours" | "mqttPacket", op: "encode" | "decode") =>
    Math.round((totals[name][op][0] * clientPackets.length * 1000) / totals[name][op][1]);
  const results: Record<string, unknown> = { packetsPerPass: clientPackets.length, rounds, batchMs };
  const lines: string[] = [];
  for (const op of ["encode", "decode"] as const) {
    const o = perSecond("ours", op);
    const m = perSecond("mqttPacket", op);
    const ratio = Math.round((o / m) * 100) / 100;
    results[op] = { oursOpsPerSecond: o, mqttPacketOpsPerSecond: m, ratio };
    lines.push(`${op}: ours ${o} ops/s, mqtt-packet ${m} ops/s, ratio ${ratio}`);
  }
  // Encode then decode of one packet: the harmonic combination of the two rates.
  const combined = (name: "ours" | "mqttPacket") =>
    Math.round(1 / (1 / perSecond(name, "encode") + 1 / perSecond(name, "decode")));
  const ratio = Math.round((combined("ours") / combined("mqttPacket")) * 100) / 100;
  results.encodeDecode = { oursOpsPerSecond: combined("ours"), mqttPacketOpsPerSecond: combined("mqttPacket"), ratio };
  lines.push(
    `encode+decode: ours ${combined("ours")} ops/s, mqtt-packet ${combined("mqttPacket")} ops/s, ratio ${ratio}`,
  );
  return { name: "mqtt-codec", results, summary: lines.join("; ") };
}
