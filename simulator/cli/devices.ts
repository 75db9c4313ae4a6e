/** `provisio devices list|revoke|delete`: registered devices. */
import { CliError, parseArgs, stringOption } from "./args";
import {
  API_OPTIONS,
  API_OPTIONS_HELP,
  ApiClient,
  nextPageHint,
  PAGE_OPTIONS,
  PAGE_OPTIONS_HELP,
  pageQuery,
} from "./api-client";
import { print, table, type Command } from "./command";

const help = `Usage:
  provisio devices list [--limit N] [--after CURSOR] [--json]
  provisio devices revoke DEVICE_ID [--workspace ID]
  provisio devices delete DEVICE_ID [--workspace ID]

revoke invalidates the device's registration tokens and closes its session at once; the device
may provision again (a technician approves it), with the same Device ID if the technician keeps it.
delete also removes the device, freeing its Device ID (its stored messages stay).
  --workspace ID   the device's workspace (default ws_default)
${PAGE_OPTIONS_HELP}
${API_OPTIONS_HELP}`;

export const devicesCommand: Command = {
  name: "devices",
  help,
  async run(argv) {
    const args = parseArgs(argv, { ...API_OPTIONS, ...PAGE_OPTIONS, workspace: "string" });
    if (args.options.help) {
      print(help);
      return 0;
    }
    const [verb, deviceId, ...extra] = args.positionals;
    const api = ApiClient.fromArgs(args);
    if (verb === "list" && deviceId === undefined) {
      const { devices, next } = await api.request("GET", `/api/devices${pageQuery(args)}`);
      print(
        args.options.json
          ? JSON.stringify(devices, null, 2)
          : table(
              ["WORKSPACE", "DEVICE ID", "CREATED", "LAST SEEN", "REVOKED"],
              devices.map((d: any) => [d.workspaceId, d.deviceId, d.createdAt, d.lastSeenAt, d.revokedAt]),
            ) + nextPageHint(next, "provisio devices list"),
      );
    } else if ((verb === "revoke" || verb === "delete") && deviceId !== undefined && extra.length === 0) {
      const workspace = stringOption(args, "workspace");
      const path = `/api/devices/${encodeURIComponent(deviceId)}`;
      const query = workspace ? `?workspace=${encodeURIComponent(workspace)}` : "";
      const device =
        verb === "revoke"
          ? await api.request("POST", `${path}/revoke${query}`)
          : await api.request("DELETE", path + query);
      print(
        args.options.json
          ? JSON.stringify(device, null, 2)
          : `${verb === "revoke" ? "revoked" : "deleted"} ${device.deviceId}`,
      );
    } else {
      throw new CliError("usage: provisio devices list|revoke|delete DEVICE_ID (see provisio devices --help)");
    }
    return 0;
  },
};
