/** `provisio messages list`: messages devices sent, newest first. */
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

const help = `Usage: provisio messages list [--device ID] [--stream S] [--limit N] [--after CURSOR] [--json]
  --device ID      only this device's messages
  --stream S       only this stream
${PAGE_OPTIONS_HELP}
${API_OPTIONS_HELP}`;

/** A payload shown as text when it is printable UTF-8, else as base64. */
function preview(payloadBase64: string): string {
  const bytes = Buffer.from(payloadBase64, "base64");
  const text = bytes.toString("utf8");
  // Control characters are what makes a payload binary here.
  // eslint-disable-next-line no-control-regex
  const printable = Buffer.from(text, "utf8").equals(bytes) && !/[\u0000-\u0008\u000e-\u001f]/.test(text);
  const shown = printable ? JSON.stringify(text) : `base64:${payloadBase64}`;
  return shown.length > 60 ? shown.slice(0, 57) + "..." : shown;
}

export const messagesCommand: Command = {
  name: "messages",
  help,
  async run(argv) {
    const args = parseArgs(argv, { ...API_OPTIONS, ...PAGE_OPTIONS, device: "string", stream: "string" });
    if (args.options.help) {
      print(help);
      return 0;
    }
    if (args.positionals.join(" ") !== "list")
      throw new CliError("usage: provisio messages list (see provisio messages --help)");
    const device = stringOption(args, "device");
    const stream = stringOption(args, "stream");
    const { messages, next } = await ApiClient.fromArgs(args).request(
      "GET",
      `/api/messages${pageQuery(args, { device, stream })}`,
    );
    print(
      args.options.json
        ? JSON.stringify(messages, null, 2)
        : table(
            ["ID", "DEVICE ID", "STREAM", "BYTES", "RECEIVED", "PAYLOAD"],
            messages.map((m: any) => [m.id, m.deviceId, m.stream, m.size, m.receivedAt, preview(m.payloadBase64)]),
          ) +
            nextPageHint(
              next,
              `provisio messages list${device ? ` --device ${device}` : ""}${stream ? ` --stream ${stream}` : ""}`,
            ),
    );
    return 0;
  },
};
