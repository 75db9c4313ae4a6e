/** The desktop ports a simulated device runs on, pointed at one broker. */
import { readFileSync } from "node:fs";
import { silentLog, type DevicePorts } from "../../sdk/ports";
import { nodeClock, nodeRandom, StdoutLog, TcpTransport } from "../../targets/node";

/** A broker URL or CA file the device cannot use: the command line reports it as a usage error. */
export class DeviceSettingsError extends Error {
  override name = "DeviceSettingsError";
}

export interface BrokerAddress {
  host: string;
  port: number;
  /** TLS, verified against the CA certificate in `caFile` (PEM), or the system store without one. */
  tls?: { caFile?: string };
}

/** `mqtt://host[:port]` (plain TCP) or `mqtts://host[:port]` (TLS, with the CA in `caFile`). */
export function parseBrokerUrl(text: string, caFile?: string): BrokerAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DeviceSettingsError(`--broker must be a URL like mqtt://127.0.0.1:1883, not ${JSON.stringify(text)}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (url.protocol === "mqtts:") return { host, port: url.port ? Number(url.port) : 8883, tls: { caFile } };
  if (url.protocol !== "mqtt:")
    throw new DeviceSettingsError(`--broker: only mqtt:// and mqtts:// are supported, not ${url.protocol}`);
  if (caFile !== undefined) throw new DeviceSettingsError("--ca is for TLS: use an mqtts:// broker URL");
  return { host, port: url.port ? Number(url.port) : 1883 };
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new DeviceSettingsError(`--ca: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** With `verbose`, the SDK's log events go to stderr, so stdout stays the device's "display". */
export function devicePorts(address: BrokerAddress, verbose: boolean): Required<DevicePorts> {
  return {
    transport: new TcpTransport({
      host: address.host,
      port: address.port,
      tls: address.tls && { ca: address.tls.caFile === undefined ? undefined : readCa(address.tls.caFile) },
    }),
    clock: nodeClock,
    random: nodeRandom,
    log: verbose ? new StdoutLog({ write: (line) => void process.stderr.write(line) }) : silentLog,
  };
}
