/**
 * A simulated device: the SDK's DeviceClient with the desktop ports and a record store on a
 * simulated NOR flash image (device-flash.ts), printing what a real device would show on its
 * display and sending messages once registered.
 */
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { Clock, Log, Random, Transport } from "../../sdk/ports";
import { utf8Encode } from "../../sdk/utf8";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { openDeviceFlash, type DeviceFlashOptions } from "./device-flash";

export interface DevicePorts {
  transport: Transport;
  clock: Clock;
  random: Random;
  log: Log;
}

export interface SimulatedDeviceOptions extends DeviceFlashOptions {
  ports: DevicePorts;
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

/** The banner a technician compares with the code the platform shows. */
export function codeBanner(verificationCode: string, operationId: string, expiresIn: number): string[] {
  const line = `  Verification code:  ${verificationCode}  `;
  const rule = "+" + "-".repeat(line.length) + "+";
  return [rule, `|${line}|`, rule, `operation ${operationId}, valid for ${Math.round(expiresIn / 60)} min`];
}

/** The line a state change prints; `name` ("ws:device") once connected. */
export function stateLine(state: DeviceClientState, detail: string | undefined, name: string): string {
  return `device: ${state}${detail ? ` (${detail})` : ""}${state === "connected" ? ` as ${name}` : ""}`;
}

export function startSimulatedDevice(options: SimulatedDeviceOptions): SimulatedDevice {
  const { print } = options;
  const stream = options.stream ?? "telemetry";
  let sampleTimer: NodeJS.Timeout | undefined;
  let sending = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const stop = () => {
    if (sampleTimer) clearInterval(sampleTimer);
    sampleTimer = undefined;
    client.stop();
  };

  const sendMessages = async (count: number) => {
    for (let i = 1; i <= count; i++) {
      await client.send(stream, utf8Encode(JSON.stringify({ n: i, of: count })));
      print(`device: message ${i}/${count} acknowledged on stream ${stream}`);
    }
  };

  const sendSamples = () => {
    let n = 0;
    const sample = () => {
      n++;
      const payload = utf8Encode(JSON.stringify({ n, temperature: Math.round((20 + 5 * Math.sin(n / 3)) * 10) / 10 }));
      client.send(stream, payload).then(
        () => print(`device: sample ${n} acknowledged on stream ${stream}`),
        (error: Error) => print(`device: sample ${n} not sent: ${error.message}`),
      );
    };
    sample();
    sampleTimer = setInterval(sample, options.sampleIntervalMs ?? 5000);
  };

  const client: DeviceClient = new DeviceClient({
    provisioningToken: options.provisioningToken,
    deviceId: options.deviceId,
    attributes: { model: "provisio-simulator", firmware: "0.1.0" },
    ...options.ports,
    store: new FlashRecordStore({ flash: openDeviceFlash(options), log: options.ports.log }),
    onDisplay: ({ operationId, verificationCode, expiresIn }) => {
      for (const line of codeBanner(verificationCode, operationId, expiresIn)) print(line);
      options.onDisplay?.(verificationCode);
    },
    onStateChange: (state, detail) => {
      print(stateLine(state, detail, `${client.workspaceId}:${client.deviceId}`));
      options.onStateChange?.(state, detail);
      if (state === "failed") {
        stop();
        finish(1);
      } else if (state === "connected" && !sending) {
        sending = true;
        if (options.send === undefined) sendSamples();
        else
          sendMessages(options.send).then(
            () => {
              stop();
              finish(0);
            },
            (error: Error) => {
              print(`device: sending failed: ${error.message}`);
              stop();
              finish(1);
            },
          );
      }
    },
  });
  client.start();
  return { finished, stop };
}
