/** `provisio ops list|approve|reject`: provisioning operations waiting for a technician. */
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
  provisio ops list [--pending] [--limit N] [--after CURSOR] [--json]
  provisio ops approve OPERATION_ID|VERIFICATION_CODE [--device-id ID]
  provisio ops reject OPERATION_ID|VERIFICATION_CODE

Compare the verification code the device displays with the one listed before approving.
  --pending        only operations waiting for a decision
  --device-id ID   approve with this Device ID instead of the one the device asked for
${PAGE_OPTIONS_HELP}
${API_OPTIONS_HELP}`;

export const opsCommand: Command = {
  name: "ops",
  summary: "list, approve and reject provisioning operations",
  help,
  async run(argv) {
    const args = parseArgs(argv, { ...API_OPTIONS, ...PAGE_OPTIONS, pending: "boolean", "device-id": "string" });
    const [verb, target, ...extra] = args.positionals;
    if (args.options.help) {
      print(help);
      return 0;
    }
    const api = ApiClient.fromArgs(args);
    if (verb === "list" && target === undefined) {
      const { operations, next } = await api.request(
        "GET",
        `/api/operations${pageQuery(args, { state: args.options.pending ? "pending" : undefined })}`,
      );
      print(
        args.options.json
          ? JSON.stringify(operations, null, 2)
          : table(
              ["ID", "STATE", "CODE", "DEVICE ID", "ATTRIBUTES", "EXPIRES"],
              operations.map((o: any) => [
                o.id,
                o.state,
                o.verificationCode ?? (o.state === "pending" ? "(waiting for device)" : null),
                o.deviceId ?? o.requestedDeviceId,
                Object.entries(o.attributes as Record<string, string>)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(",") || null,
                o.state === "pending" ? o.expiresAt : null,
              ]),
            ) + nextPageHint(next, `provisio ops list${args.options.pending ? " --pending" : ""}`),
      );
    } else if ((verb === "approve" || verb === "reject") && target !== undefined && extra.length === 0) {
      const body = verb === "approve" ? { deviceId: stringOption(args, "device-id") } : {};
      const op = await api.request("POST", `/api/operations/${encodeURIComponent(target)}/${verb}`, body);
      print(
        args.options.json
          ? JSON.stringify(op, null, 2)
          : `${op.state} ${op.id}${op.deviceId ? ` as ${op.deviceId}` : ""}`,
      );
    } else {
      throw new CliError("usage: provisio ops list|approve|reject OPERATION (see provisio ops --help)");
    }
    return 0;
  },
};
