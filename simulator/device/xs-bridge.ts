/**
 * What crosses between the device application in XS (xs-entry.ts) and its Node host (xs-host.ts),
 * as JSON; bytes travel base64url. Calls go up and are answered at once (the socket, the timers,
 * the flash, the display); what happens later (bytes arrived, a timer fired) comes down as events.
 */
import type { DeviceClientState } from "../../sdk/device-client";
import type { LogFields, LogLevel } from "../../sdk/ports";
import type { DeviceAppConfig } from "./device-app";

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
  flashRead: { call: { op: "flashRead"; offset: number; length: number }; reply: FlashReply };
  flashWrite: { call: { op: "flashWrite"; offset: number; bytes: string }; reply: FlashReply };
  flashErase: { call: { op: "flashErase"; sector: number }; reply: FlashReply };
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
  | { event: "close"; id: number }
  | { event: "timer"; id: number };

/** What the host evaluates to start the application: its settings and the flash it serves. */
export interface XsDeviceStart {
  config: DeviceAppConfig;
  flash: { sectorSize: number; size: number };
}

/** The global the bundle assigns its exports to (`start`, `stop`). */
export const xsDeviceGlobal = "provisioXsDevice";
