/** The desktop ports a simulated device runs on, pointed at one broker. */
import { silentLog } from "../../sdk/ports";
import { nodeClock, nodeRandom, StdoutLog, TcpTransport } from "../../targets/node";
import { CliError } from "../cli/args";
import type { DevicePorts } from "./simulated-device";

export interface BrokerAddress {
  host: string;
  port: number;
}

/** `mqtt://host[:port]`; TLS (mqtts) is not offered by the simulator. */
export function parseBrokerUrl(text: string): BrokerAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`--broker must be a URL like mqtt://127.0.0.1:1883, not ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "mqtt:") throw new CliError(`--broker: only mqtt:// is supported, not ${url.protocol}`);
  return { host: url.hostname, port: url.port ? Number(url.port) : 1883 };
}

/** With `verbose`, the SDK's log events go to stderr, so stdout stays the device's "display". */
export function devicePorts(address: BrokerAddress, verbose: boolean): DevicePorts {
  return {
    transport: new TcpTransport(address),
    clock: nodeClock,
    random: nodeRandom,
    log: verbose ? new StdoutLog({ write: (line) => void process.stderr.write(line) }) : silentLog,
  };
}
