/**
 * Runs inside xsnap (bundled by simulator/device/xs-host.ts): the SDK's DeviceClient with ports
 * that cross to the Node host. Calls to the host go up through issueCommand and are answered at
 * once (the socket, the timers, the flash); what happens later (bytes arrived, a timer fired) comes
 * down through handleCommand. Messages are JSON, bytes base64url.
 */
import { base64urlDecode, base64urlEncode } from "../../sdk/crypto/base64url";
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { Clock, Log, Random, TimerHandle, Transport, TransportEvents } from "../../sdk/ports";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import type { Flash } from "../../sdk/storage/flash";
import { utf8Decode, utf8Encode } from "../../sdk/utf8";
import { jsonBuffer, sendToHost } from "../xs-engine/inside";

export interface XsDeviceConfig {
  provisioningToken: string;
  deviceId?: string;
  send?: number;
  stream: string;
  /** The geometry of the flash the host serves. */
  flash: { sectorSize: number; size: number };
}

/** What the host pushes down: a transport event for connection `id`, or timer `id` firing. */
interface HostEvent {
  event: "open" | "data" | "close" | "timer" | "sample";
  id: number;
  bytes?: string;
}

function ask<T>(request: Record<string, unknown>): T {
  return JSON.parse(utf8Decode(sendToHost(request)) ?? "null") as T;
}

const decode = (text: string) => base64urlDecode(text) ?? new Uint8Array(0);

// Keyed by small host-made integers; a device has one connection and a few timers at a time.
const connections = new Map<number, TransportEvents>();
const timers = new Map<number, () => void>();

const transport: Transport = {
  connect(events) {
    const id = ask<number>({ op: "connect" });
    connections.set(id, events);
    return {
      write: (bytes) => ask({ op: "write", id, bytes: base64urlEncode(bytes) }),
      close: () => ask({ op: "close", id }),
    };
  },
};

const clock: Clock = {
  now: () => ask<number>({ op: "now" }),
  setTimer(delayMs, callback): TimerHandle {
    const id = ask<number>({ op: "setTimer", delayMs });
    timers.set(id, callback);
    return id;
  },
  clearTimer(handle) {
    if (timers.delete(handle as number)) ask({ op: "clearTimer", id: handle });
  },
};

const random: Random = {
  fill: (bytes) => bytes.set(decode(ask<string>({ op: "random", length: bytes.length }))),
};

const log: Log = { write: (level, event, fields) => void ask({ op: "log", level, event, fields }) };

/** A flash call on the host: its bytes, or its failure thrown here, where the record store sees it. */
function askFlash(request: Record<string, unknown>): Uint8Array | undefined {
  const reply = ask<{ bytes?: string; error?: string }>(request);
  if (reply.error !== undefined) throw new Error(reply.error);
  return reply.bytes === undefined ? undefined : decode(reply.bytes);
}

/** The record store runs here, as on a device; only the raw flash operations cross to the host. */
function hostFlash(geometry: XsDeviceConfig["flash"]): Flash {
  return {
    sectorSize: geometry.sectorSize,
    size: geometry.size,
    read: (offset, length) => askFlash({ op: "flashRead", offset, length })!,
    write: (offset, bytes) => void askFlash({ op: "flashWrite", offset, bytes: base64urlEncode(bytes) }),
    erase: (sector) => void askFlash({ op: "flashErase", sector }),
  };
}

let client: DeviceClient | undefined;
let config: XsDeviceConfig | undefined;
let sampleNumber = 0;

function sendOne(payload: Uint8Array, label: string): Promise<void> {
  return client!.send(config!.stream, payload).then(
    () => ask({ op: "print", line: `device: ${label} acknowledged on stream ${config!.stream}` }),
    (error: Error) => ask({ op: "print", line: `device: ${label} not sent: ${error.message}` }),
  );
}

async function sendMessages(count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await client!.send(config!.stream, utf8Encode(JSON.stringify({ n: i, of: count })));
    ask({ op: "print", line: `device: message ${i}/${count} acknowledged on stream ${config!.stream}` });
  }
}

function stateChanged(state: DeviceClientState, detail?: string): void {
  ask({
    op: "state",
    state,
    detail: detail ?? null,
    deviceId: client?.deviceId ?? null,
    workspaceId: client?.workspaceId ?? null,
  });
  if (state !== "connected" || config!.send === undefined) return;
  const count = config!.send;
  config!.send = undefined;
  sendMessages(count).then(
    () => ask({ op: "finished", code: 0 }),
    (error: Error) => ask({ op: "finished", code: 1, line: `device: sending failed: ${error.message}` }),
  );
}

/** Starts the device; the host evaluates `provisioXsDevice.start({...})`. */
export function start(options: XsDeviceConfig): void {
  config = options;
  client = new DeviceClient({
    provisioningToken: options.provisioningToken,
    deviceId: options.deviceId,
    attributes: { model: "provisio-simulator-xs", firmware: "0.1.0" },
    transport,
    clock,
    random,
    log,
    store: new FlashRecordStore({ flash: hostFlash(options.flash), log }),
    onDisplay: (operation) => ask({ op: "display", ...operation }),
    onStateChange: stateChanged,
  });
  client.start();
}

export function stop(): void {
  client?.stop();
}

/** Host events. Every callback into the SDK is guarded: an exception must not end the engine. */
(globalThis as unknown as { handleCommand(buffer: ArrayBuffer): ArrayBuffer }).handleCommand = (buffer) => {
  const message = JSON.parse(utf8Decode(new Uint8Array(buffer)) ?? "null") as HostEvent;
  try {
    if (message.event === "timer") {
      const callback = timers.get(message.id);
      timers.delete(message.id);
      callback?.();
    } else if (message.event === "sample") {
      void sendOne(utf8Encode(JSON.stringify({ n: ++sampleNumber })), `sample ${sampleNumber}`);
    } else {
      const events = connections.get(message.id);
      if (message.event === "open") events?.onOpen();
      else if (message.event === "data") events?.onData(decode(message.bytes ?? ""));
      else {
        connections.delete(message.id);
        events?.onClose("closed");
      }
    }
  } catch (error) {
    ask({ op: "log", level: "error", event: "xs-callback-threw", fields: { error: String(error) } });
  }
  return jsonBuffer(null);
};
