/** `provisio ops list|watch|approve|reject`: provisioning operations waiting for a technician. */
import { CliError, EXIT, parseArgs, stringOption, type ExitCode } from "./args";
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
  provisio ops watch [--json]
  provisio ops approve CODE|OPERATION_ID... [--device-id ID]
  provisio ops reject CODE|OPERATION_ID [--reason TEXT]

Compare the verification code the device displays with the one listed before approving.
\`watch\` prints each operation once its device shows a code, and what becomes of it, until
interrupted (--json: one JSON event a line). \`approve\` takes several codes: each is approved
or fails on its own, and the exit code is the first failure's.
  --pending        only operations waiting for a decision
  --device-id ID   approve with this Device ID instead of the one the device asked for (one code only)
  --reason TEXT    why it is rejected, kept with the operation
${PAGE_OPTIONS_HELP}
${API_OPTIONS_HELP}`;

export const opsCommand: Command = {
  name: "ops",
  help,
  async run(argv) {
    const args = parseArgs(argv, {
      ...API_OPTIONS,
      ...PAGE_OPTIONS,
      pending: "boolean",
      "device-id": "string",
      reason: "string",
    });
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
    } else if (verb === "watch" && target === undefined) {
      return watch(api, args.options.json === true);
    } else if (verb === "approve" && target !== undefined) {
      const deviceId = stringOption(args, "device-id");
      if (deviceId !== undefined && extra.length > 0) throw new CliError("--device-id goes with one code only");
      let exit: ExitCode = EXIT.ok;
      for (const code of [target, ...extra]) {
        try {
          const op = await api.request("POST", `/api/operations/${encodeURIComponent(code)}/approve`, { deviceId });
          print(args.options.json ? JSON.stringify(op) : describe(op));
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          process.stderr.write(`provisio: ${code}: ${error.message}\n`);
          if (exit === EXIT.ok) exit = error.exitCode;
        }
      }
      return exit;
    } else if (verb === "reject" && target !== undefined && extra.length === 0) {
      const op = await api.request("POST", `/api/operations/${encodeURIComponent(target)}/reject`, {
        reason: stringOption(args, "reason"),
      });
      print(args.options.json ? JSON.stringify(op, null, 2) : describe(op));
    } else {
      throw new CliError("usage: provisio ops list|watch|approve|reject (see provisio ops --help)");
    }
    return 0;
  },
};

/** One line of what became of an operation. */
function describe(op: any): string {
  return `${op.state} ${op.id}${op.deviceId ? ` as ${op.deviceId}` : ""}`;
}

/** The line `watch` prints when an operation's device shows its code. */
function waiting(op: any): string {
  const attributes = Object.entries((op.attributes ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${op.verificationCode}  ${op.id}  ${op.requestedDeviceId ?? "(no Device ID asked)"}${attributes ? `  ${attributes}` : ""}  expires ${op.expiresAt}`;
}

/**
 * Prints the operations waiting with a code now, then each one as its code appears and what
 * becomes of it; runs until SIGINT or SIGTERM (exit 0), or until the platform goes (exit 6).
 */
async function watch(api: ApiClient, json: boolean): Promise<number> {
  const shown = new Set<string>();
  const show = (op: any) => {
    if (shown.has(op.id)) return;
    shown.add(op.id);
    print(json ? JSON.stringify({ type: "operation-revealed", operation: op }) : waiting(op));
  };
  // Events that arrive while the list is read are held, so nothing falls between the two.
  const held: { type: string; data: string }[] = [];
  let listed = false;
  const handle = ({ type, data }: { type: string; data: string }) => {
    if (!listed) return void held.push({ type, data });
    const event = JSON.parse(data) as { operation?: any };
    if (type === "operation-revealed") show(event.operation);
    else if (/^operation-(approved|rejected|expired)$/.test(type) && shown.has(event.operation.id))
      print(json ? JSON.stringify(event) : describe(event.operation));
  };
  const stream = api.follow(handle);
  try {
    await stream.opened;
  } catch (error) {
    throw api.streamError(error as Error);
  }
  for (let after: string | null | undefined; after !== null;) {
    const page = await api.request("GET", `/api/operations?state=pending&limit=1000${after ? `&after=${after}` : ""}`);
    for (const op of page.operations) if (op.verificationCode !== null) show(op);
    after = page.next;
  }
  listed = true;
  for (const event of held.splice(0)) handle(event);
  const interrupted = new Promise<undefined>((resolve) => {
    process.once("SIGINT", () => resolve(undefined));
    process.once("SIGTERM", () => resolve(undefined));
  });
  const ended = await Promise.race([stream.ended, interrupted]);
  stream.close();
  if (ended) throw api.streamError(ended);
  return EXIT.ok;
}
