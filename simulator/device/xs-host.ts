/**
 * `provisio device --engine xs`: the SDK core runs inside the real XS engine (xsnap), as on a
 * device, while this Node host serves its ports: the socket, the clock, randomness, the log and
 * the flash image (the record store itself runs in XS, as on a device). simulator/device/xs-entry.ts
 * is the other half.
 */
import type { DeviceClientState } from "../../sdk/device-client";
import type { LogFields, LogLevel, TimerHandle, TransportConnection } from "../../sdk/ports";
import { bundleXsScript } from "../../scripts/build";
import { XsWorker } from "../xs-engine/worker";
import { openDeviceFlash } from "./device-flash";
import { codeBanner, stateLine, type SimulatedDevice, type SimulatedDeviceOptions } from "./simulated-device";

const globalName = "provisioXsDevice";

/** A request from XS: `op` names the port call (see xs-entry.ts). */
interface XsRequest {
  op: string;
  id?: number;
  bytes?: string;
  delayMs?: number;
  length?: number;
  offset?: number;
  sector?: number;
  level?: LogLevel;
  event?: string;
  fields?: LogFields;
  line?: string;
  code?: number;
  state?: DeviceClientState;
  detail?: string | null;
  deviceId?: string | null;
  workspaceId?: string | null;
  operationId?: string;
  verificationCode?: string;
  expiresIn?: number;
}

export async function startXsDevice(options: SimulatedDeviceOptions): Promise<SimulatedDevice> {
  const { ports, print } = options;
  const flash = openDeviceFlash(options);
  const connections = new Map<number, TransportConnection>();
  const timers = new Map<number, TimerHandle>();
  let nextId = 1;
  let sampleTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const push = (event: Record<string, unknown>) => {
    if (stopped) return;
    worker.issueCommand(Buffer.from(JSON.stringify(event))).catch((error: Error) => {
      print(`device: the XS engine failed: ${error.message}`);
      stop(1);
    });
  };

  /** A flash call's result as `{ bytes }` (reads) or `{}`, or its failure as `{ error }`: XS rethrows it. */
  const flashReply = (call: () => string | void) => {
    try {
      const bytes = call();
      return bytes === undefined ? {} : { bytes };
    } catch (error) {
      return { error: (error as Error).message };
    }
  };

  const serve = (request: XsRequest): unknown => {
    switch (request.op) {
      case "connect": {
        const id = nextId++;
        const connection = ports.transport.connect({
          onOpen: () => push({ event: "open", id }),
          onData: (bytes) => push({ event: "data", id, bytes: Buffer.from(bytes).toString("base64url") }),
          onClose: () => {
            connections.delete(id);
            push({ event: "close", id });
          },
        });
        connections.set(id, connection);
        return id;
      }
      case "write":
        connections.get(request.id!)?.write(Buffer.from(request.bytes!, "base64url"));
        return null;
      case "close":
        connections.get(request.id!)?.close();
        return null;
      case "now":
        return ports.clock.now();
      case "setTimer": {
        const id = nextId++;
        timers.set(
          id,
          ports.clock.setTimer(request.delayMs!, () => {
            timers.delete(id);
            push({ event: "timer", id });
          }),
        );
        return id;
      }
      case "clearTimer":
        ports.clock.clearTimer(timers.get(request.id!));
        timers.delete(request.id!);
        return null;
      case "random": {
        const bytes = new Uint8Array(request.length!);
        ports.random.fill(bytes);
        return Buffer.from(bytes).toString("base64url");
      }
      case "log":
        ports.log.write(request.level!, request.event!, request.fields);
        return null;
      case "flashRead":
        return flashReply(() => Buffer.from(flash.read(request.offset!, request.length!)).toString("base64url"));
      case "flashWrite":
        return flashReply(() => flash.write(request.offset!, Buffer.from(request.bytes!, "base64url")));
      case "flashErase":
        return flashReply(() => flash.erase(request.sector!));
      case "display":
        for (const line of codeBanner(request.verificationCode!, request.operationId!, request.expiresIn!)) print(line);
        options.onDisplay?.(request.verificationCode!);
        return null;
      case "state":
        print(stateLine(request.state!, request.detail ?? undefined, `${request.workspaceId}:${request.deviceId}`));
        options.onStateChange?.(request.state!, request.detail ?? undefined);
        if (request.state === "failed") setImmediate(() => stop(1));
        else if (request.state === "connected" && options.send === undefined && !sampleTimer)
          sampleTimer = setInterval(() => push({ event: "sample", id: 0 }), options.sampleIntervalMs ?? 5000);
        return null;
      case "print":
        print(request.line!);
        return null;
      case "finished":
        if (request.line) print(request.line);
        setImmediate(() => stop(request.code!));
        return null;
    }
    throw new Error(`unknown request from XS: ${request.op}`);
  };

  const worker = new XsWorker({
    name: "provisio-device",
    onCommand: (bytes) =>
      Buffer.from(JSON.stringify(serve(JSON.parse(Buffer.from(bytes).toString("utf8")) as XsRequest) ?? null)),
  });

  const stop = (code: number) => {
    if (stopped) return;
    if (sampleTimer) clearInterval(sampleTimer);
    // The SDK says goodbye (DISCONNECT) from inside XS before the engine quits.
    const said = worker.evaluate(`${globalName}.stop()`).catch(() => undefined);
    stopped = true;
    said
      .then(() => worker.close())
      .then(
        () => finish(code),
        () => finish(code),
      );
    for (const timer of timers.values()) ports.clock.clearTimer(timer);
  };

  worker.start();
  await worker.evaluate(await bundleXsScript("simulator/device/xs-entry.ts", globalName));
  const config = {
    provisioningToken: options.provisioningToken,
    deviceId: options.deviceId,
    send: options.send,
    stream: options.stream ?? "telemetry",
    flash: { sectorSize: flash.sectorSize, size: flash.size },
  };
  await worker.evaluate(`${globalName}.start(${JSON.stringify(config)})`);
  return { finished, stop: () => stop(0) };
}
