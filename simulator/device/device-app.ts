/**
 * The simulated device's application, written once for both engines: it imports only the SDK, so
 * Node runs it directly (simulated-device.ts) and XS runs it bundled (xs-entry.ts), each giving it
 * the ports and the storage of its engine. It shows the verification code, reports every state
 * (with why a connection failed), and queues `send` messages at once, registered and online or
 * not, finishing once all are delivered; or a sample every few seconds.
 */
import { DeviceClient, type DeviceClientState } from "../../sdk/device-client";
import type { DevicePorts, Log, RecordStore, TimerHandle } from "../../sdk/ports";
import type { Flash } from "../../sdk/storage/flash";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import { FlashMessageQueue, type MessageQueue } from "../../sdk/storage/message-queue";
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
export function stateLine(
  state: DeviceClientState,
  detail: string | undefined,
  name: string,
  retryInMs?: number,
): string {
  const why = detail
    ? ` (${detail}${retryInMs === undefined ? "" : `, next try in ${Math.round(retryInMs / 100) / 10} s`})`
    : "";
  return `device: ${state}${why}${state === "connected" ? ` as ${name}` : ""}`;
}

/** Where the application keeps its state: the device's record, and the messages not yet delivered. */
export interface DeviceAppStorage {
  store: RecordStore;
  queue: MessageQueue;
}

/**
 * The record store and the message queue on the device's two flash partitions. Samples keep the
 * newest when the queue fills (a long time offline); counted messages (--send) are refused instead.
 */
export function openDeviceStorage(
  flash: { record: Flash; queue: Flash },
  config: DeviceAppConfig,
  log: Log,
): DeviceAppStorage {
  return {
    store: new FlashRecordStore({ flash: flash.record, log }),
    queue: new FlashMessageQueue({
      flash: flash.queue,
      whenFull: config.send === undefined ? "drop-oldest" : "refuse",
      log,
    }),
  };
}

export function startDeviceApp(
  ports: DevicePorts,
  storage: DeviceAppStorage,
  config: DeviceAppConfig,
  host: DeviceAppHost,
): DeviceApp {
  const { stream } = config;
  let sampleTimer: TimerHandle | undefined;
  let done = false;
  /** This run's own messages not yet acknowledged (with --send). */
  let unacknowledged = 0;

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

  /** With --send: done once this run's messages and any left from before a reboot are delivered. */
  const finishIfDelivered = () => {
    if (config.send !== undefined && unacknowledged === 0 && client.queued.messages === 0) finish(0);
  };

  /** Queues at once, online or not; the SDK delivers in order once it can. */
  const sendMessages = (count: number) => {
    unacknowledged = count;
    for (let i = 1; i <= count; i++)
      client.send(stream, utf8Encode(JSON.stringify({ n: i, of: count }))).then(
        () => {
          host.print(`device: message ${i}/${count} acknowledged on stream ${stream}`);
          unacknowledged--;
          finishIfDelivered();
        },
        (error: Error) => {
          host.print(`device: message ${i}/${count} not sent: ${error.message}`);
          finish(1);
        },
      );
    if (count > 0) host.print(`device: ${count} messages queued (${client.queued.messages} waiting in all)`);
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
    store: storage.store,
    queue: storage.queue,
    onDisplay: ({ operationId, verificationCode, expiresIn }) => {
      for (const line of codeBanner(verificationCode, operationId, expiresIn)) host.print(line);
      host.display(verificationCode);
    },
    onStateChange: (state, detail, retryInMs) => {
      host.print(stateLine(state, detail, `${client.workspaceId}:${client.deviceId}`, retryInMs));
      host.stateChanged(state, detail);
      if (state === "failed") finish(1);
      else if (state === "connected") finishIfDelivered();
    },
    onDelivered: finishIfDelivered,
  });
  if (client.queued.messages > 0) host.print(`device: ${client.queued.messages} messages waiting from before`);
  client.start();
  if (config.send === undefined) sample();
  else sendMessages(config.send);
  return { stop };
}
