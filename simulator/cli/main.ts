/**
 * The `provisio` command line. Each command is a file beside this one exporting a Command;
 * to add one, add it to COMMANDS below.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DeviceSettingsError } from "../device/node-ports";
import { packageRoot } from "../package-root";
import { CliError, EXIT, closest } from "./args";
import { print, type Command } from "./command";

/**
 * Each command is loaded only when it runs: a technician's command does not load the platform,
 * the broker or the XS engine, so it starts in well under 300 ms.
 */
const COMMANDS: readonly { name: string; summary: string; load(): Promise<Command> }[] = [
  {
    name: "platform",
    summary: "run the platform (MQTT broker, provisioning service, HTTP API)",
    load: async () => (await import("./platform")).platformCommand,
  },
  {
    name: "tokens",
    summary: "create, list and revoke provisioning tokens",
    load: async () => (await import("./tokens")).tokensCommand,
  },
  {
    name: "ops",
    summary: "list, watch, approve and reject provisioning operations",
    load: async () => (await import("./ops")).opsCommand,
  },
  {
    name: "devices",
    summary: "list, revoke and delete registered devices",
    load: async () => (await import("./devices")).devicesCommand,
  },
  {
    name: "messages",
    summary: "list stored device messages",
    load: async () => (await import("./messages")).messagesCommand,
  },
  {
    name: "device",
    summary: "run a simulated device: provision it, then send messages",
    load: async () => (await import("./device")).deviceCommand,
  },
  {
    name: "demo",
    summary: "run a platform and one simulated device, and provision it",
    load: async () => (await import("./demo")).demoCommand,
  },
  {
    name: "cluster",
    summary: "run PostgreSQL, two RabbitMQ nodes and two platform workers here (up, down)",
    load: async () => (await import("./cluster")).clusterCommand,
  },
  {
    name: "certs",
    summary: "make a development CA and a server certificate for TLS",
    load: async () => (await import("./certs")).certsCommand,
  },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: provisio COMMAND [options]     (provisio --version, provisio COMMAND -h)",
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
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    print(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-V") {
    print((JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) {
      const guess = closest(
        name,
        COMMANDS.map((c) => c.name),
      );
      throw new CliError(
        `unknown command ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ""} (see provisio --help)`,
      );
    }
    return await (await command.load()).run(rest.map((arg) => (arg === "-h" ? "--help" : arg)));
  } catch (error) {
    process.stderr.write(`provisio: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof CliError) return error.exitCode;
    return error instanceof DeviceSettingsError ? EXIT.usage : EXIT.failed;
  }
}
