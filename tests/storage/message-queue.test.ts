/**
 * The outgoing message queue on NOR flash (sdk/storage/message-queue.ts): order, reboots, the
 * ring's wear, the two full policies, and a power cut at every byte written and every erase of a
 * run of sends and acknowledgements.
 */
import { StorageError } from "../../sdk/storage/errors";
import { MemoryMessageQueue } from "../../sdk/storage/memory-message-queue";
import { FlashMessageQueue, type MessageQueue, type QueuedMessage } from "../../sdk/storage/message-queue";
import { RecordingLog } from "../../testkit/device/recording-log";
import { PowerCutError, SimulatedNorFlash } from "../../testkit/device/simulated-nor-flash";

const flash = (sectorCount = 3, sectorSize = 256) => new SimulatedNorFlash({ sectorSize, sectorCount });
const payloadOf = (n: number) => new TextEncoder().encode(`message ${n} `.repeat(1 + (n % 4)));
const textOf = (queue: MessageQueue, message: QueuedMessage) => {
  const { stream, payload } = queue.read(message);
  return `${stream}:${new TextDecoder().decode(payload)}`;
};
const expected = (n: number) => `s${n % 2}:${new TextDecoder().decode(payloadOf(n))}`;

function storageErrorOf(action: () => void): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof StorageError) return error.code;
    throw error;
  }
  return undefined;
}

test("messages wait in order until acknowledged, and a reboot finds the waiting ones with their sent marks", () => {
  const medium = flash();
  const queue = new FlashMessageQueue({ flash: medium });
  const appended = [1, 2, 3, 4].map((n) => queue.append(`s${n % 2}`, payloadOf(n)));
  expect(appended.map((m) => m.sequence)).toEqual([1, 2, 3, 4]);
  queue.markSent(appended[0]);
  queue.markSent(appended[1]);
  expect(queue.markDone(appended[0])).toBe(true);
  expect(queue.markDone(appended[0])).toBe(false);

  const rebooted = new FlashMessageQueue({ flash: medium });
  expect(rebooted.waiting.map((m) => [m.sequence, m.sent])).toEqual([
    [2, true],
    [3, false],
    [4, false],
  ]);
  expect(rebooted.waiting.map((m) => textOf(rebooted, m))).toEqual([2, 3, 4].map(expected));
  expect(rebooted.bytes).toBe(queue.bytes);
  expect(rebooted.append("s1", payloadOf(5)).sequence).toBe(5);
});

test("the ring reuses its sectors evenly, erasing one only once all its messages are done", () => {
  const medium = flash(4, 256);
  const queue = new FlashMessageQueue({ flash: medium });
  for (let n = 1; n <= 400; n++) {
    const message = queue.append(`s${n % 2}`, payloadOf(n));
    queue.markSent(message);
    queue.markDone(message);
  }
  expect(queue.waiting).toHaveLength(0);
  const erases = medium.eraseCounts;
  expect(Math.max(...erases) - Math.min(...erases)).toBeLessThanOrEqual(1);
  // One entry and two one-byte flag writes a message: the erases follow from the bytes written.
  expect(medium.erases).toBeLessThan(medium.bytesWritten / 200);
  expect(new FlashMessageQueue({ flash: medium }).append("s", payloadOf(1)).sequence).toBe(401);
});

test("full: 'refuse' throws queue-full and keeps every message; 'drop-oldest' drops and counts", () => {
  const refusing = new FlashMessageQueue({ flash: flash(), maxMessages: 3 });
  for (let n = 1; n <= 3; n++) refusing.append("s", payloadOf(n));
  expect(storageErrorOf(() => refusing.append("s", payloadOf(4)))).toBe("queue-full");
  expect(refusing.waiting.map((m) => m.sequence)).toEqual([1, 2, 3]);

  const log = new RecordingLog();
  const dropping = new FlashMessageQueue({ flash: flash(), maxMessages: 3, whenFull: "drop-oldest", log });
  for (let n = 1; n <= 5; n++) dropping.append("s", payloadOf(n));
  expect(dropping.waiting.map((m) => m.sequence)).toEqual([3, 4, 5]);
  expect(dropping.dropped).toBe(2);
  expect(log.text()).toContain("message-dropped");

  // The flash itself full of waiting messages: refused, and every one held survives a reboot.
  const small = flash(2, 256);
  const physically = new FlashMessageQueue({ flash: small });
  expect(
    storageErrorOf(() => {
      for (let n = 1; n <= 100; n++) physically.append("s", payloadOf(n));
    }),
  ).toBe("queue-full");
  const held = physically.waiting.map((m) => m.sequence);
  expect(held.length).toBeGreaterThan(2);
  expect(new FlashMessageQueue({ flash: small }).waiting.map((m) => m.sequence)).toEqual(held);
});

test("a message too large for a sector is refused, not cut", () => {
  const queue = new FlashMessageQueue({ flash: flash() });
  expect(queue.maxPayloadBytes("s")).toBe(256 - 16 - 1);
  expect(storageErrorOf(() => queue.append("s", new Uint8Array(240)))).toBe("record-too-large");
  expect(queue.append("s", new Uint8Array(239)).payloadLength).toBe(239);
});

test("the memory queue keeps the same bounds and policies", () => {
  const refusing = new MemoryMessageQueue({ maxMessages: 2 });
  refusing.append("s", payloadOf(1));
  refusing.append("s", payloadOf(2));
  expect(storageErrorOf(() => refusing.append("s", payloadOf(3)))).toBe("queue-full");
  const dropping = new MemoryMessageQueue({ maxMessages: 2, whenFull: "drop-oldest" });
  for (let n = 1; n <= 3; n++) dropping.append(`s${n % 2}`, payloadOf(n));
  expect(dropping.waiting.map((m) => textOf(dropping, m))).toEqual([2, 3].map(expected));
  expect(dropping.dropped).toBe(1);
});

/** What the application was told: stored (by sequence: its message number), refused, acknowledged. */
interface Told {
  stored: Map<number, number>;
  refused: Set<number>;
  acked: Set<number>;
  /** The message whose append the power cut interrupted: stored or not, either is right. */
  inDoubt?: number;
}

/**
 * One run of the application against a queue of at most 4 messages: send, mark sent, and
 * acknowledge the two oldest every fifth message, so the queue fills and refuses some, over
 * enough messages to wrap the ring several times.
 */
function run(medium: SimulatedNorFlash, told: Told) {
  const queue = new FlashMessageQueue({ flash: medium, maxMessages: 4 });
  for (let n = 1; n <= 60; n++) {
    try {
      const message = queue.append(`s${n % 2}`, payloadOf(n));
      told.stored.set(message.sequence, n);
      queue.markSent(message);
    } catch (error) {
      if (!(error instanceof StorageError && error.code === "queue-full")) {
        if (error instanceof PowerCutError) told.inDoubt = n;
        throw error;
      }
      told.refused.add(n);
    }
    if (n % 5 === 0)
      for (const acknowledged of queue.waiting.slice(0, 2)) {
        queue.markDone(acknowledged);
        told.acked.add(acknowledged.sequence);
      }
  }
}

const newTold = (): Told => ({ stored: new Map(), refused: new Set(), acked: new Set() });

test("a power cut at every byte written and every erase loses no queued message and revives no refused one", () => {
  const counting = flash(3, 256);
  const whole = newTold();
  run(counting, whole);
  expect(whole.refused.size).toBeGreaterThan(5);
  const cutPoints = [
    ...Array.from({ length: counting.bytesWritten }, (_, i) => (m: SimulatedNorFlash) => m.cutPowerAfterBytes(i)),
    ...Array.from({ length: counting.erases }, (_, i) => (m: SimulatedNorFlash) => m.cutPowerDuringErase(i)),
  ];
  expect(cutPoints.length).toBeGreaterThan(1000);
  for (const [index, arm] of cutPoints.entries()) {
    const medium = flash(3, 256);
    arm(medium);
    const told = newTold();
    expect(() => run(medium, told)).toThrow(PowerCutError);
    medium.restorePower();
    const rebooted = new FlashMessageQueue({ flash: medium, maxMessages: 4 });
    const waiting = rebooted.waiting.map((m) => told.stored.get(m.sequence) ?? told.inDoubt);
    const context = `cut point ${index}: waiting ${JSON.stringify(waiting)}`;
    const lost = [...told.stored].filter(([sequence, n]) => !told.acked.has(sequence) && !waiting.includes(n));
    expect({ context, lost }).toEqual({ context, lost: [] });
    expect({ context, revived: waiting.filter((n) => n === undefined || told.refused.has(n)) }).toEqual({
      context,
      revived: [],
    });
    for (const message of rebooted.waiting)
      expect(textOf(rebooted, message)).toBe(expected(waiting[rebooted.waiting.indexOf(message)]!));
    expect(waiting).toEqual([...waiting].sort((a, b) => a! - b!));
    // The queue goes on: a new message after the reboot is stored and found after another.
    for (const message of rebooted.waiting.slice(0, 2)) rebooted.markDone(message);
    const next = rebooted.append("s0", payloadOf(100));
    expect(next.sequence).toBeGreaterThan(Math.max(0, ...told.stored.keys()));
    expect(new FlashMessageQueue({ flash: medium }).waiting.map((m) => m.sequence)).toContain(next.sequence);
  }
});
