/** `provisio messages list`: messages devices sent, newest first. */
import { CliError, integerOption, parseArgs, stringOption } from "./args";
import { API_OPTIONS, API_OPTIONS_HELP, ApiClient } from "./api-client";
import { print, table, type Command } from "./command";

const help = `Usage: provisio messages list [--device ID] [--stream S] [--limit N] [--json]
  --device ID      only this device's messages
  --stream S       only this stream
  --limit N        at most N messages (default 100)
${API_OPTIONS_HELP}`;

/** A payload shown as text when it is printable UTF-8, else as base64. */
function preview(payloadBase64: string): string {
  const bytes = Buffer.from(payloadBase64, "base64");
  const text = bytes.toString("utf8");
  const printable = Buffer.from(text, "utf8").equals(bytes) && !/[\u0000-\u0008\u000e-\u001f]/.test(text);
  const shown = printable ? JSON.stringify(text) : `base64:${payloadBase64}`;
  return shown.length > 60 ? shown.slice(0, 57) + "..." : shown;
}

export const messagesCommand: Command = {
  name: "messages",
  summary: "list stored device messages",
  help,
  async run(argv) {
    const args = parseArgs(argv, { ...API_OPTIONS, device: "string", stream: "string", limit: "string" });
    if (args.options.help) {
      print(help);
      return 0;
    }
    if (args.positionals.join(" ") !== "list") throw new CliError("usage: provisio messages list (see provisio messages --help)");
    const query = new URLSearchParams();
    const device = stringOption(args, "device");
    const stream = stringOption(args, "stream");
    const limit = integerOption(args, "limit", 1, 1000);
    if (device !== undefined) query.set("device", device);
    if (stream !== undefined) query.set("stream", stream);
    if (limit !== undefined) query.set("limit", String(limit));
    const { messages } = await ApiClient.fromArgs(args).request("GET", `/api/messages?${query}`);
    print(
      args.options.json
        ? JSON.stringify(messages, null, 2)
        : table(
            ["ID", "DEVICE ID", "STREAM", "BYTES", "RECEIVED", "PAYLOAD"],
            messages.map((m: any) => [m.id, m.deviceId, m.stream, m.size, m.receivedAt, preview(m.payloadBase64)]),
          ),
    );
    return 0;
  },
};
