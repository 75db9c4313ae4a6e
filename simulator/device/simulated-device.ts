/**
 * A simulated device in Node: the device application (device-app.ts) with the desktop ports and
 * its storage on simulated NOR flash images (device-flash.ts). xs-host.ts runs the same
 * application inside the XS engine.
 */
import type { DeviceClientState } from "../../sdk/device-client";
import type { DevicePorts } from "../../sdk/ports";
import { openDeviceStorage, startDeviceApp, type DeviceAppConfig } from "./device-app";
import { openDeviceFlash, type DeviceFlashOptions } from "./device-flash";

export interface SimulatedDeviceOptions extends DeviceFlashOptions {
  /** All of them, the log too: both engines serve it. */
  ports: Required<DevicePorts>;
  provisioningToken: string;
  deviceId?: string;
  /** Send this many messages once registered, then finish; without it, send a sample every few seconds. */
  send?: number;
  stream?: string;
  sampleIntervalMs?: number;
  /** One line of human output (the device's "display"). */
  print: (line: string) => void;
  /** Called with the code the device shows, after it is printed. */
  onDisplay?(verificationCode: string): void;
  /** Called for every state change, after it is printed. */
  onStateChange?(state: DeviceClientState, detail?: string): void;
}

export interface SimulatedDevice {
  /** Resolves with the exit code: 0 once --send messages are acknowledged, 1 when the device failed. */
  finished: Promise<number>;
  stop(): void;
}

/** The application's settings from the options both engines take. */
export function deviceAppConfig(options: SimulatedDeviceOptions, model: string): DeviceAppConfig {
  return {
    provisioningToken: options.provisioningToken,
    deviceId: options.deviceId,
    send: options.send,
    stream: options.stream ?? "telemetry",
    sampleIntervalMs: options.sampleIntervalMs ?? 5000,
    model,
  };
}

export function startSimulatedDevice(options: SimulatedDeviceOptions): SimulatedDevice {
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const config = deviceAppConfig(options, "provisio-simulator");
  const storage = openDeviceStorage(openDeviceFlash(options), config, options.ports.log);
  const app = startDeviceApp(options.ports, storage, config, {
    print: options.print,
    display: (code) => options.onDisplay?.(code),
    stateChanged: (state, detail) => options.onStateChange?.(state, detail),
    finished: finish,
  });
  return { finished, stop: () => app.stop() };
}
