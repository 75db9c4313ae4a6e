/**
 * The limits an operator may set on `provisio platform` (and pass to a cluster's workers through
 * `provisio cluster up`): one table, from which the help text, the parsing and the platform's
 * options all come, each with its default from the platform's own constants.
 */
import { DEFAULT_DEVICE_RATE } from "../platform/device-rate";
import { DEFAULT_INGRESS_LIMITS } from "../platform/ingress";
import { INIT_LIMITS } from "../platform/operations";
import { DEFAULT_QUOTA_BYTES_PER_DEVICE } from "../platform/message-batch";
import type { PlatformOptions } from "../platform/platform";
import { integerOption, type OptionSpec, type ParsedArgs } from "./args";

type Limits = Pick<PlatformOptions, "deviceRate" | "quotaBytesPerDevice" | "ingress" | "initLimits">;

interface Limit {
  option: string;
  help: string;
  defaultValue: number;
  min: number;
  max: number;
  set(limits: Required<Limits>, value: number): void;
}

const minute = 60_000;

const LIMITS: readonly Limit[] = [
  {
    option: "device-rate",
    help: "messages a second one device's messages are taken at; beyond it their PUBACKs wait",
    defaultValue: DEFAULT_DEVICE_RATE.messagesPerSecond,
    min: 1,
    max: 1_000_000,
    set: (limits, value) => (limits.deviceRate.messagesPerSecond = value),
  },
  {
    option: "device-bytes-rate",
    help: "bytes a second, likewise",
    defaultValue: DEFAULT_DEVICE_RATE.bytesPerSecond,
    min: 1024,
    max: 10 * 1024 ** 3,
    set: (limits, value) => (limits.deviceRate.bytesPerSecond = value),
  },
  {
    option: "device-burst",
    help: "seconds of its rate a device may send at once after a quiet time",
    defaultValue: DEFAULT_DEVICE_RATE.burstSeconds,
    min: 0,
    max: 3600,
    set: (limits, value) => (limits.deviceRate.burstSeconds = value),
  },
  {
    option: "device-quota",
    help: "bytes of messages kept per device; past it its oldest are deleted",
    defaultValue: DEFAULT_QUOTA_BYTES_PER_DEVICE,
    min: 1024 * 1024,
    max: 2 ** 50,
    set: (limits, value) => (limits.quotaBytesPerDevice = value),
  },
  {
    option: "connections-per-address",
    help: "MQTT connections one address may hold, logged in or not",
    defaultValue: DEFAULT_INGRESS_LIMITS.connectionsPerAddress,
    min: 1,
    max: 1_000_000,
    set: (limits, value) => (limits.ingress.connectionsPerAddress = value),
  },
  {
    option: "pre-auth-packet-bytes",
    help: "largest packet a connection may send before its CONNECT is accepted",
    defaultValue: DEFAULT_INGRESS_LIMITS.preAuthPacketBytes,
    min: 512,
    max: 65_536,
    set: (limits, value) => (limits.ingress.preAuthPacketBytes = value),
  },
  {
    option: "inits-per-address",
    help: "provisioning operations one address may start a minute",
    defaultValue: INIT_LIMITS.perAddress.limit,
    min: 1,
    max: 1_000_000,
    set: (limits, value) => (limits.initLimits.perAddress = { limit: value, windowMs: minute }),
  },
  {
    option: "inits-per-client",
    help: "provisioning operations one client ID may start a minute",
    defaultValue: INIT_LIMITS.perClient.limit,
    min: 1,
    max: 1_000_000,
    set: (limits, value) => (limits.initLimits.perClient = { limit: value, windowMs: minute }),
  },
  {
    option: "pending-per-token",
    help: "operations a provisioning token may have waiting for a technician",
    defaultValue: INIT_LIMITS.pendingPerToken,
    min: 1,
    max: 1_000_000,
    set: (limits, value) => (limits.initLimits.pendingPerToken = value),
  },
];

/** The limits' options, for parseArgs. */
export const limitOptionSpec: OptionSpec = Object.fromEntries(LIMITS.map((limit) => [limit.option, "string"]));

/** The limits' lines of a command's help: each option, then what it bounds, wrapped at 100 columns. */
export const limitsHelp = LIMITS.map((limit) => {
  const lines = [`  --${limit.option} N`];
  for (const word of `${limit.help} (default ${limit.defaultValue})`.split(" ")) {
    const last = lines.length - 1;
    if (lines.length === 1 || (lines[last] + " " + word).length > 100) lines.push(" ".repeat(19) + word);
    else lines[last] += " " + word;
  }
  return lines.join("\n");
}).join("\n");

/** The limits given on the command line, as the platform's options; a value out of bounds is a usage error. */
export function limitsFrom(args: ParsedArgs): Limits {
  const limits: Required<Limits> = {
    deviceRate: {},
    quotaBytesPerDevice: DEFAULT_QUOTA_BYTES_PER_DEVICE,
    ingress: {},
    initLimits: {},
  };
  for (const limit of LIMITS) {
    const value = integerOption(args, limit.option, limit.min, limit.max);
    if (value !== undefined) limit.set(limits, value);
  }
  return limits;
}

/** The limits given on the command line, as arguments again (for the workers `cluster up` starts). */
export function limitArgs(args: ParsedArgs): string[] {
  return LIMITS.flatMap((limit) => {
    const value = integerOption(args, limit.option, limit.min, limit.max);
    return value === undefined ? [] : [`--${limit.option}`, String(value)];
  });
}
