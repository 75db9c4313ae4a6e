/** `provisio devices list`: registered devices. */
import { CliError, parseArgs } from "./args";
import { API_OPTIONS, API_OPTIONS_HELP, ApiClient } from "./api-client";
import { print, table, type Command } from "./command";

const help = `Usage: provisio devices list [--json]
${API_OPTIONS_HELP}`;

export const devicesCommand: Command = {
  name: "devices",
  summary: "list registered devices",
  help,
  async run(argv) {
    const args = parseArgs(argv, API_OPTIONS);
    if (args.options.help) {
      print(help);
      return 0;
    }
    if (args.positionals.join(" ") !== "list") throw new CliError("usage: provisio devices list (see provisio devices --help)");
    const { devices } = await ApiClient.fromArgs(args).request("GET", "/api/devices");
    print(
      args.options.json
        ? JSON.stringify(devices, null, 2)
        : table(
            ["WORKSPACE", "DEVICE ID", "CREATED", "LAST SEEN"],
            devices.map((d: any) => [d.workspaceId, d.deviceId, d.createdAt, d.lastSeenAt]),
          ),
    );
    return 0;
  },
};
