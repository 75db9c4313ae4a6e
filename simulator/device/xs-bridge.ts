/**
 * What crosses between the device application in XS (xs-entry.ts) and its Node host (xs-host.ts),
 * as JSON; bytes travel base64url. Calls go up and are answered at once (the socket, the timers,
 * the flash, the display); what happens later (bytes arrived, a timer fired) comes down as events.
 */
import type { DeviceClientState } from "../../sdk/device-client";
import type { LinkFailure, LogFields, LogLevel } from "../../sdk/ports";
import type { DeviceAppConfig } from "./device-app";

/** The device's flash partitions the host serves. */
export type Partition = "record" | "queue";

/** A flash operation's bytes (reads) or nothing, or its failure: XS rethrows it to the record store. */
export type FlashReply = { bytes?: string; error?: string };

/** Every call from XS, and its answer's type. */
export interface DeviceCalls {
  connect: { call: { op: "connect" }; reply: number };
  write: { call: { op: "write"; id: number; bytes: string }; reply: null };
  close: { call: { op: "close"; id: number }; reply: null };
  now: { call: { op: "now" }; reply: number };
  setTimer: { call: { op: "setTimer"; delayMs: number }; reply: number };
  clearTimer: { call: { op: "clearTimer"; id: number }; reply: null };
  random: { call: { op: "random"; length: number }; reply: string };
  log: { call: { op: "log"; level: LogLevel; event: string; fields?: LogFields }; reply: null };
  flashRead: { call: { op: "flashRead"; partition: Partition; offset: number; length: number }; reply: FlashReply };
  flashWrite: { call: { op: "flashWrite"; partition: Partition; offset: number; bytes: string }; reply: FlashReply };
  flashErase: { call: { op: "flashErase"; partition: Partition; sector: number }; reply: FlashReply };
  print: { call: { op: "print"; line: string }; reply: null };
  display: { call: { op: "display"; verificationCode: string }; reply: null };
  state: { call: { op: "state"; state: DeviceClientState; detail?: string }; reply: null };
  finished: { call: { op: "finished"; code: number }; reply: null };
}

export type DeviceCall = DeviceCalls[keyof DeviceCalls]["call"];

/** What the host pushes down: a transport event of connection `id`, or timer `id` firing. */
export type HostEvent =
  | { event: "open"; id: number }
  | { event: "data"; id: number; bytes: string }
  | { event: "close"; id: number; reason: LinkFailure; message?: string }
  | { event: "timer"; id: number };

/** The geometry of one partition. */
export interface PartitionGeometry {
  sectorSize: number;
  size: number;
}

/** What the host evaluates to start the application: its settings and the flash it serves. */
export interface XsDeviceStart {
  config: DeviceAppConfig;
  flash: Record<Partition, PartitionGeometry>;
}

/** The global the bundle assigns its exports to (`start`, `stop`). */
export const xsDeviceGlobal = "provisioXsDevice";
