/**
 * The `provisio` command line. Each command is a file beside this one exporting a Command;
 * to add one, add it to COMMANDS below.
 */
import { DeviceSettingsError } from "../device/node-ports";
import { CliError, EXIT } from "./args";
import { certsCommand } from "./certs";
import { print, type Command } from "./command";
import { deviceCommand } from "./device";
import { demoCommand } from "./demo";
import { devicesCommand } from "./devices";
import { messagesCommand } from "./messages";
import { opsCommand } from "./ops";
import { platformCommand } from "./platform";
import { tokensCommand } from "./tokens";

const COMMANDS: readonly Command[] = [
  platformCommand,
  tokensCommand,
  opsCommand,
  devicesCommand,
  messagesCommand,
  deviceCommand,
  demoCommand,
  certsCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: provisio COMMAND [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `provisio COMMAND --help` for a command's options.",
    "",
    "Exit codes:",
    `  ${EXIT.ok}  done`,
    `  ${EXIT.failed}  failed (the platform's own error, a device that failed)`,
    `  ${EXIT.usage}  usage error: an unknown command or option, a bad value`,
    `  ${EXIT.notFound}  not found: no such operation, token or device`,
    `  ${EXIT.refused}  refused: the platform said no (a conflict, an invalid request, too many)`,
    `  ${EXIT.unauthorized}  not authorised: a missing or wrong admin key`,
    `  ${EXIT.unreachable}  platform unreachable (or its certificate not trusted)`,
  ].join("\n");
}

/** Runs the CLI; resolves to the process exit code. Errors are one line on stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    print(usage());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (name === undefined) throw new CliError("missing command (see provisio --help)");
    if (!command) throw new CliError(`unknown command ${JSON.stringify(name)} (see provisio --help)`);
    return await command.run(rest);
  } catch (error) {
    process.stderr.write(`provisio: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof CliError) return error.exitCode;
    return error instanceof DeviceSettingsError ? EXIT.usage : EXIT.failed;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
