/**
 * The `provisio` command line. Each command is a file under simulator/cli/ exporting a Command;
 * to add one, add it to COMMANDS below.
 */
import { CliError } from "./cli/args";
import { certsCommand } from "./cli/certs";
import { print, type Command } from "./cli/command";
import { deviceCommand } from "./cli/device";
import { demoCommand } from "./cli/demo";
import { devicesCommand } from "./cli/devices";
import { messagesCommand } from "./cli/messages";
import { opsCommand } from "./cli/ops";
import { platformCommand } from "./cli/platform";
import { tokensCommand } from "./cli/tokens";

const COMMANDS: readonly Command[] = [platformCommand, tokensCommand, opsCommand, devicesCommand, messagesCommand, deviceCommand, demoCommand, certsCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: provisio COMMAND [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `provisio COMMAND --help` for a command's options.",
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
    const message = error instanceof CliError ? error.message : ((error as Error).message ?? String(error));
    process.stderr.write(`provisio: ${message}\n`);
    return error instanceof CliError ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
