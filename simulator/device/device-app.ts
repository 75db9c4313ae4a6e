/**
 * The simulated device's application, written once for both engines: it imports only the SDK, so
 * Node runs it directly (simulated-device.ts) and XS runs it bundled (xs-entry.ts), each giving it
 * the ports and the record store of its engine. It shows the verification code, reports every
 * state, and once registered sends `send` messages and finishes, or a sample every few seconds.
 */
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { DevicePorts, RecordStore, TimerHandle } from "../../sdk/ports";
import { utf8Encode } from "../../sdk/utf8";

export interface DeviceAppConfig {
  provisioningToken: string;
  deviceId?: string;
  /** Send this many messages once registered, then finish; without it, send a sample every few seconds. */
  send?: number;
  stream: string;
  sampleIntervalMs: number;
  /** The `model` attribute the technician sees with the operation. */
  model: string;
}

/** What the application shows and reports: the device's display, and its end. */
export interface DeviceAppHost {
  /** One line of human output (the device's "display"). */
  print(line: string): void;
  /** The code the device shows, after it is printed. */
  display(verificationCode: string): void;
  /** Every state change, after it is printed. */
  stateChanged(state: DeviceClientState, detail: string | undefined): void;
  /** The application is done: 0 once `send` messages are acknowledged, 1 when the device failed. */
  finished(code: number): void;
}

export interface DeviceApp {
  /** Stops sending and says goodbye to the broker. */
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

export function startDeviceApp(
  ports: DevicePorts,
  store: RecordStore,
  config: DeviceAppConfig,
  host: DeviceAppHost,
): DeviceApp {
  const { stream } = config;
  let sampleTimer: TimerHandle | undefined;
  let sending = false;
  let done = false;

  const stop = () => {
    if (sampleTimer !== undefined) ports.clock.clearTimer(sampleTimer);
    sampleTimer = undefined;
    client.stop();
  };

  const finish = (code: number) => {
    if (done) return;
    done = true;
    stop();
    host.finished(code);
  };

  const sendMessages = async (count: number) => {
    for (let i = 1; i <= count; i++) {
      await client.send(stream, utf8Encode(JSON.stringify({ n: i, of: count })));
      host.print(`device: message ${i}/${count} acknowledged on stream ${stream}`);
    }
  };

  let sampleNumber = 0;
  const sample = () => {
    const n = ++sampleNumber;
    const temperature = Math.round((20 + 5 * Math.sin(n / 3)) * 10) / 10;
    client.send(stream, utf8Encode(JSON.stringify({ n, temperature }))).then(
      () => host.print(`device: sample ${n} acknowledged on stream ${stream}`),
      (error: Error) => host.print(`device: sample ${n} not sent: ${error.message}`),
    );
    sampleTimer = ports.clock.setTimer(config.sampleIntervalMs, sample);
  };

  const client: DeviceClient = new DeviceClient({
    ...ports,
    provisioningToken: config.provisioningToken,
    deviceId: config.deviceId,
    attributes: { model: config.model, firmware: "0.1.0" },
    store,
    onDisplay: ({ operationId, verificationCode, expiresIn }) => {
      for (const line of codeBanner(verificationCode, operationId, expiresIn)) host.print(line);
      host.display(verificationCode);
    },
    onStateChange: (state, detail) => {
      host.print(stateLine(state, detail, `${client.workspaceId}:${client.deviceId}`));
      host.stateChanged(state, detail);
      if (state === "failed") finish(1);
      else if (state === "connected" && !sending) {
        sending = true;
        if (config.send === undefined) sample();
        else
          sendMessages(config.send).then(
            () => finish(0),
            (error: Error) => {
              host.print(`device: sending failed: ${error.message}`);
              finish(1);
            },
          );
      }
    },
  });
  client.start();
  return { stop };
}
