/** `provisio device`: one simulated device running the SDK core against a broker. */
import { readFileSync } from "node:fs";
import { isDeviceId } from "../../sdk/identity";
import { FactoryFileError, parseFactoryFile, type FactoryRecord } from "../device/factory-file";
import { CliError, integerOption, parseArgs, stringOption } from "./args";
import { print, type Command } from "./command";
import { devicePorts, parseBrokerUrl } from "../device/node-ports";
import { startSimulatedDevice } from "../device/simulated-device";
import { startXsDevice } from "../device/xs-host";

/** The exit code of a device whose power was cut (EX_TEMPFAIL: run it again). */
export const powerCutExitCode = 75;

const OPTIONS = {
  broker: "string",
  ca: "string",
  token: "string",
  "token-file": "string",
  "device-id": "string",
  state: "string",
  engine: "string",
  send: "string",
  stream: "string",
  "power-cut-after-writes": "string",
  verbose: "boolean",
  help: "boolean",
} as const;

function readFactoryFile(path: string | undefined): FactoryRecord | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError(`--token-file: cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return parseFactoryFile(text, path);
  } catch (error) {
    if (error instanceof FactoryFileError) throw new CliError(`--token-file ${error.message}`);
    throw error;
  }
}

export const deviceCommand: Command = {
  name: "device",
  help: `Usage: provisio device --token PT | --token-file FILE [options]

Runs the device SDK as a simulated device. It shows its verification code, waits for a technician
to approve it (provisio ops approve CODE), stores its registration in a simulated NOR flash
image (--state DIR/flash.bin, 4 sectors of 4096 bytes), and sends messages, which wait in a
second image (DIR/queue.bin, 16 sectors) until the platform has stored them: offline, before
registration and across power cuts. Restarted with the same --state, it reuses its registration
(or resumes a pending operation) and delivers what was left waiting.

  --broker URL       MQTT broker (default mqtt://127.0.0.1:1883); mqtts://HOST[:8883] for TLS
  --ca FILE          with mqtts://, the CA certificate (PEM) that signed the broker's
                     certificate (default: the system's CAs)
  --token PT         provisioning token (this or --token-file)
  --token-file FILE  the token (and Device ID) a factory writes for one device: the CSV of
                     Espressif's NVS partition generator, namespace "provisio", string entries
                     "token" and "deviceId" (what the firmware reads from its preferences)
  --device-id ID     requested Device ID (4-90 of 0-9 A-Z a-z _ . -)
  --state DIR        where the device keeps its flash image (default .provisio/device)
  --engine xs|node   run the SDK core inside the XS engine, as on a device (default),
                     or directly in Node
  --send N           queue N messages at once, exit 0 once they and any left from an earlier
                     run are acknowledged (--send 0: deliver what is left, then exit);
                     without it, a sample every 5 s (the oldest dropped when the queue is full)
  --stream S         stream for messages (default telemetry)
  --power-cut-after-writes N
                     N flash writes succeed, then the power fails halfway through the next
                     write or erase: the device dies with exit code ${powerCutExitCode}
  --verbose          print the SDK's log events on stderr
  --help             show this help`,

  async run(argv) {
    const args = parseArgs(argv, { ...OPTIONS });
    if (args.options.help) {
      print(deviceCommand.help);
      return 0;
    }
    const factory = readFactoryFile(stringOption(args, "token-file"));
    if (factory && stringOption(args, "token") !== undefined)
      throw new CliError("give --token or --token-file, not both");
    const token = factory?.provisioningToken ?? stringOption(args, "token");
    if (!token) throw new CliError("--token or --token-file is required (create a token with: provisio tokens create)");
    const engine = stringOption(args, "engine") ?? "xs";
    if (engine !== "node" && engine !== "xs") throw new CliError(`--engine must be node or xs, not ${engine}`);
    if (factory?.deviceId !== undefined && stringOption(args, "device-id") !== undefined)
      throw new CliError("the --token-file names the Device ID: leave out --device-id");
    const deviceId = factory?.deviceId ?? stringOption(args, "device-id");
    if (deviceId !== undefined && !isDeviceId(deviceId))
      throw new CliError("--device-id must be 4-90 characters of 0-9 A-Z a-z _ . -");
    const broker = parseBrokerUrl(stringOption(args, "broker") ?? "mqtt://127.0.0.1:1883", stringOption(args, "ca"));
    const options = {
      ports: devicePorts(broker, args.options.verbose === true),
      provisioningToken: token,
      deviceId,
      stateDir: stringOption(args, "state") ?? ".provisio/device",
      send: integerOption(args, "send", 0, 100000),
      stream: stringOption(args, "stream"),
      powerCutAfterWrites: integerOption(args, "power-cut-after-writes", 0, 1000000),
      // Like a board losing power: nothing more runs, not even a goodbye to the broker.
      onPowerCut: () => {
        print("device: power cut (simulated); the flash image keeps what was written before it");
        process.exit(powerCutExitCode);
      },
      print,
    };
    const device = engine === "xs" ? await startXsDevice(options) : startSimulatedDevice(options);
    const interrupted = new Promise<number>((resolve) => {
      const stop = () => {
        device.stop();
        resolve(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    return Promise.race([device.finished, interrupted]);
  },
};
