/**
 * `provisio device --engine xs`: the device application runs inside the real XS engine (xsnap),
 * as on a device, while this Node host serves its ports: the socket, the clock, randomness, the
 * log, the flash partitions and the display. xs-entry.ts is the other half, prebuilt by `npm run build`.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { TimerHandle, TransportConnection } from "../../sdk/ports";
import { packageRoot } from "../package-root";
import { XsWorker } from "../xs-engine/worker";
import { openDeviceFlash } from "./device-flash";
import { deviceAppConfig, type SimulatedDevice, type SimulatedDeviceOptions } from "./simulated-device";
import { xsDeviceGlobal, type DeviceCall, type DeviceCalls, type HostEvent, type XsDeviceStart } from "./xs-bridge";

/** The application bundled for XS (scripts/build-dist.ts writes it). */
export const xsDeviceBundlePath = resolve(packageRoot, "dist/xs/simulated-device.js");

function readBundle(): string {
  if (!existsSync(xsDeviceBundlePath))
    throw new Error(`the XS device application is not built (${xsDeviceBundlePath}): run npm run build`);
  return readFileSync(xsDeviceBundlePath, "utf8");
}

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export async function startXsDevice(options: SimulatedDeviceOptions): Promise<SimulatedDevice> {
  const { ports, print } = options;
  const flash = openDeviceFlash(options);
  const connections = new Map<number, TransportConnection>();
  const timers = new Map<number, TimerHandle>();
  let nextId = 1;
  let stopped = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const push = (event: HostEvent) => {
    if (stopped) return;
    worker.issueCommand(Buffer.from(JSON.stringify(event))).catch((error: Error) => {
      print(`device: the XS engine failed: ${error.message}`);
      stop(1);
    });
  };

  const flashReply = (call: () => Uint8Array | void): DeviceCalls["flashRead"]["reply"] => {
    try {
      const bytes = call();
      return bytes ? { bytes: base64url(bytes) } : {};
    } catch (error) {
      return { error: (error as Error).message };
    }
  };

  const serve = (call: DeviceCall): DeviceCalls[keyof DeviceCalls]["reply"] => {
    switch (call.op) {
      case "connect": {
        const id = nextId++;
        const connection = ports.transport.connect({
          onOpen: () => push({ event: "open", id }),
          onData: (bytes) => push({ event: "data", id, bytes: base64url(bytes) }),
          onClose: (reason, message) => {
            connections.delete(id);
            push({ event: "close", id, reason, message });
          },
        });
        connections.set(id, connection);
        return id;
      }
      case "write":
        connections.get(call.id)?.write(Buffer.from(call.bytes, "base64url"));
        return null;
      case "close":
        connections.get(call.id)?.close();
        return null;
      case "now":
        return ports.clock.now();
      case "setTimer": {
        const id = nextId++;
        const fired = () => {
          timers.delete(id);
          push({ event: "timer", id });
        };
        timers.set(id, ports.clock.setTimer(call.delayMs, fired));
        return id;
      }
      case "clearTimer":
        ports.clock.clearTimer(timers.get(call.id));
        timers.delete(call.id);
        return null;
      case "random": {
        const bytes = new Uint8Array(call.length);
        ports.random.fill(bytes);
        return base64url(bytes);
      }
      case "log":
        ports.log.write(call.level, call.event, call.fields);
        return null;
      case "flashRead":
        return flashReply(() => flash[call.partition].read(call.offset, call.length));
      case "flashWrite":
        return flashReply(() => flash[call.partition].write(call.offset, Buffer.from(call.bytes, "base64url")));
      case "flashErase":
        return flashReply(() => flash[call.partition].erase(call.sector));
      case "print":
        print(call.line);
        return null;
      case "display":
        options.onDisplay?.(call.verificationCode);
        return null;
      case "state":
        options.onStateChange?.(call.state, call.detail);
        return null;
      case "finished":
        setImmediate(() => stop(call.code));
        return null;
    }
  };

  const worker = new XsWorker({
    name: "provisio-device",
    onCommand: (bytes) => {
      const call = JSON.parse(Buffer.from(bytes).toString("utf8")) as DeviceCall;
      const reply = serve(call);
      if (reply === undefined) throw new Error(`unknown call from XS: ${JSON.stringify(call).slice(0, 80)}`);
      return Buffer.from(JSON.stringify(reply));
    },
  });

  const stop = (code: number) => {
    if (stopped) return;
    // The SDK says goodbye (DISCONNECT) from inside XS before the engine quits.
    const said = worker.evaluate(`${xsDeviceGlobal}.stop()`).catch(() => undefined);
    stopped = true;
    said
      .then(() => worker.close())
      .then(
        () => finish(code),
        () => finish(code),
      );
    for (const timer of timers.values()) ports.clock.clearTimer(timer);
  };

  const bundle = readBundle();
  worker.start();
  await worker.evaluate(bundle);
  const start: XsDeviceStart = {
    config: deviceAppConfig(options, "provisio-simulator-xs"),
    flash: {
      record: { sectorSize: flash.record.sectorSize, size: flash.record.size },
      queue: { sectorSize: flash.queue.sectorSize, size: flash.queue.size },
    },
  };
  await worker.evaluate(`${xsDeviceGlobal}.start(${JSON.stringify(start)})`);
  return { finished, stop: () => stop(0) };
}
