/**
 * The persisted message queue's flash wear: bytes programmed per message and per payload byte
 * (write amplification), flash write operations per message, messages per sector erase, and what
 * that means for ten years at one message a minute on the ESP32 partition the simulated device
 * uses (sixteen 4 KiB sectors), against the 100,000 erase cycles NOR flash of ESP32 modules is
 * specified for. Each message is queued, marked sent and acknowledged, one at a time, as online.
 * Run alone: `npm run bench -- message-queue`.
 */
import type { Flash } from "../sdk/storage/flash";
import { FlashMessageQueue } from "../sdk/storage/message-queue";
import { SimulatedNorFlash } from "../testkit/device/simulated-nor-flash";
import type { BenchReport } from "./run";

const sectorSize = 4096;
const sectorCount = 16;
const messages = 20_000;
const stream = "telemetry";
/** A JSON reading, about what the example app sends. */
const payload = new TextEncoder().encode(JSON.stringify({ seq: 123456, temperatureC: 21.5, humidity: 40.2 }));
const minutesInTenYears = 10 * 365.25 * 24 * 60;
const specifiedEraseCycles = 100_000;

/** Counts write operations (each a separate flash program call, whatever its length). */
function countingWrites(flash: SimulatedNorFlash): Flash & { writes: number } {
  const counted = {
    writes: 0,
    sectorSize: flash.sectorSize,
    size: flash.size,
    read: (offset: number, length: number) => flash.read(offset, length),
    write(offset: number, bytes: Uint8Array) {
      counted.writes++;
      flash.write(offset, bytes);
    },
    erase: (sector: number) => flash.erase(sector),
  };
  return counted;
}

export async function run(): Promise<BenchReport> {
  const flash = new SimulatedNorFlash({ sectorSize, sectorCount });
  const counted = countingWrites(flash);
  const queue = new FlashMessageQueue({ flash: counted });
  for (let i = 0; i < messages; i++) {
    const message = queue.append(stream, payload);
    queue.markSent(message);
    queue.markDone(message);
  }
  if (new FlashMessageQueue({ flash }).waiting.length !== 0) throw new Error("acknowledged messages came back");
  const bytesPerMessage = flash.bytesWritten / messages;
  const writeAmplification = Math.round((bytesPerMessage / (payload.length + stream.length)) * 100) / 100;
  const messagesPerErase = Math.round(messages / flash.erases);
  const erasesPerSectorInTenYears = Math.ceil(minutesInTenYears / messagesPerErase / sectorCount);
  const wear = { min: Math.min(...flash.eraseCounts), max: Math.max(...flash.eraseCounts) };
  return {
    name: "message-queue",
    results: {
      geometry: { sectorSize, sectorCount, messages, payloadBytes: payload.length, stream },
      perMessage: { bytesWritten: bytesPerMessage, writeOperations: counted.writes / messages, writeAmplification },
      messagesPerErase,
      wear,
      tenYearsAtOneAMinute: {
        messages: Math.round(minutesInTenYears),
        erasesPerSector: erasesPerSectorInTenYears,
        ofSpecifiedCycles: Math.round((erasesPerSectorInTenYears / specifiedEraseCycles) * 1000) / 1000,
      },
    },
    summary:
      `a ${payload.length}-byte message on stream "${stream}" programs ${bytesPerMessage} flash bytes in ` +
      `${counted.writes / messages} writes (write amplification ${writeAmplification}x the stream and payload), ` +
      `an erase every ${messagesPerErase} messages, wear spread ${wear.min}-${wear.max} erases a sector; ` +
      `ten years at one a minute: ${erasesPerSectorInTenYears} erases a sector of 16, ` +
      `${(erasesPerSectorInTenYears / specifiedEraseCycles) * 100}% of 100,000 cycles`,
  };
}
