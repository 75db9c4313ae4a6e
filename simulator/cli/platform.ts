/** `provisio platform`: runs the platform in this process until SIGINT/SIGTERM. */
import { resolve } from "node:path";
import { ADMIN_KEY_FILE, startPlatform } from "../platform/platform";
import { integerOption, parseArgs, stringOption } from "./args";
import { DEFAULT_DATA_DIR } from "./api-client";
import { print, type Command } from "./command";

const help = `Usage: provisio platform [options]

Runs the MQTT broker, the provisioning service and the HTTP API until SIGINT/SIGTERM.

  --mqtt-port N    MQTT port (default 1883; 0 picks a free one)
  --http-port N    HTTP API port (default 8080; 0 picks a free one)
  --host ADDR      address to listen on (default 127.0.0.1)
  --data DIR       data directory (default ${DEFAULT_DATA_DIR}); the admin key is DIR/${ADMIN_KEY_FILE}
  --help           show this help`;

export const platformCommand: Command = {
  name: "platform",
  summary: "run the platform (MQTT broker, provisioning service, HTTP API)",
  help,
  async run(argv) {
    const args = parseArgs(argv, { "mqtt-port": "string", "http-port": "string", host: "string", data: "string", help: "boolean" });
    if (args.options.help) {
      print(help);
      return 0;
    }
    const dataDir = resolve(stringOption(args, "data") ?? DEFAULT_DATA_DIR);
    const host = stringOption(args, "host") ?? "127.0.0.1";
    const platform = await startPlatform({
      dataDir,
      host,
      mqttPort: integerOption(args, "mqtt-port", 0, 65535) ?? 1883,
      httpPort: integerOption(args, "http-port", 0, 65535) ?? 8080,
      log: (line) => process.stderr.write(line + "\n"),
    });
    print(`provisio platform ready: mqtt://${host}:${platform.mqttPort} http://${host}:${platform.httpPort}`);
    print(`admin key in ${resolve(dataDir, ADMIN_KEY_FILE)}; stop with Ctrl-C`);
    const signal = await new Promise<string>((done) => {
      process.once("SIGINT", () => done("SIGINT"));
      process.once("SIGTERM", () => done("SIGTERM"));
    });
    process.stderr.write(`${signal}: shutting down\n`);
    await platform.close();
    return 0;
  },
};
