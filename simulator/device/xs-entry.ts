/**
 * Runs inside xsnap, bundled at build time into dist/xs/simulated-device.js: the device
 * application (device-app.ts) with ports that cross to the Node host (xs-host.ts) over the
 * bridge of xs-bridge.ts. The record store and the message queue run here, as on a device; only
 * the raw flash operations cross.
 */
import { base64urlDecode, base64urlEncode } from "../../sdk/crypto/base64url";
import type { DevicePorts, TimerHandle, TransportEvents } from "../../sdk/ports";
import type { Flash } from "../../sdk/storage/flash";
import { utf8Decode } from "../../sdk/utf8";
import { jsonBuffer, sendToHost } from "../xs-engine/inside";
import { openDeviceStorage, startDeviceApp, type DeviceApp } from "./device-app";
import type { DeviceCalls, HostEvent, Partition, PartitionGeometry, XsDeviceStart } from "./xs-bridge";

function ask<K extends keyof DeviceCalls>(call: DeviceCalls[K]["call"] & { op: K }): DeviceCalls[K]["reply"] {
  return JSON.parse(utf8Decode(sendToHost(call)) ?? "null") as DeviceCalls[K]["reply"];
}

const decode = (text: string) => base64urlDecode(text) ?? new Uint8Array(0);

// Keyed by small host-made integers; a device has one connection and a few timers at a time.
const connections = new Map<number, TransportEvents>();
const timers = new Map<number, () => void>();

const ports: Required<DevicePorts> = {
  transport: {
    connect(events) {
      const id = ask({ op: "connect" });
      connections.set(id, events);
      return {
        write: (bytes) => void ask({ op: "write", id, bytes: base64urlEncode(bytes) }),
        close: () => void ask({ op: "close", id }),
      };
    },
  },
  clock: {
    now: () => ask({ op: "now" }),
    setTimer(delayMs, callback): TimerHandle {
      const id = ask({ op: "setTimer", delayMs });
      timers.set(id, callback);
      return id;
    },
    clearTimer(handle) {
      if (timers.delete(handle as number)) ask({ op: "clearTimer", id: handle as number });
    },
  },
  random: { fill: (bytes) => bytes.set(decode(ask({ op: "random", length: bytes.length }))) },
  log: { write: (level, event, fields) => void ask({ op: "log", level, event, fields }) },
};

/** A flash call's bytes, or its failure thrown here, where the record store sees it. */
function flashResult(reply: DeviceCalls["flashRead"]["reply"]): Uint8Array | undefined {
  if (reply.error !== undefined) throw new Error(reply.error);
  return reply.bytes === undefined ? undefined : decode(reply.bytes);
}

function hostFlash(partition: Partition, geometry: PartitionGeometry): Flash {
  return {
    sectorSize: geometry.sectorSize,
    size: geometry.size,
    read: (offset, length) => flashResult(ask({ op: "flashRead", partition, offset, length }))!,
    write: (offset, bytes) =>
      void flashResult(ask({ op: "flashWrite", partition, offset, bytes: base64urlEncode(bytes) })),
    erase: (sector) => void flashResult(ask({ op: "flashErase", partition, sector })),
  };
}

let app: DeviceApp | undefined;

/** Starts the application; the host evaluates `provisioXsDevice.start({...})`. */
export function start({ config, flash }: XsDeviceStart): void {
  const partitions = { record: hostFlash("record", flash.record), queue: hostFlash("queue", flash.queue) };
  app = startDeviceApp(ports, openDeviceStorage(partitions, config, ports.log), config, {
    print: (line) => void ask({ op: "print", line }),
    display: (verificationCode) => void ask({ op: "display", verificationCode }),
    stateChanged: (state, detail) => void ask({ op: "state", state, detail }),
    finished: (code) => void ask({ op: "finished", code }),
  });
}

export function stop(): void {
  app?.stop();
}

function deliver(event: HostEvent): void {
  if (event.event === "timer") {
    const callback = timers.get(event.id);
    timers.delete(event.id);
    callback?.();
    return;
  }
  const events = connections.get(event.id);
  if (event.event === "open") events?.onOpen();
  else if (event.event === "data") events?.onData(decode(event.bytes));
  else {
    connections.delete(event.id);
    events?.onClose(event.reason, event.message);
  }
}

/** Host events. Every callback into the SDK is guarded: an exception must not end the engine. */
(globalThis as unknown as { handleCommand(buffer: ArrayBuffer): ArrayBuffer }).handleCommand = (buffer) => {
  try {
    deliver(JSON.parse(utf8Decode(new Uint8Array(buffer)) ?? "null") as HostEvent);
  } catch (error) {
    ask({ op: "log", level: "error", event: "xs-callback-threw", fields: { error: String(error) } });
  }
  return jsonBuffer(null);
};
