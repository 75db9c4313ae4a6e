/** `provisio cluster up|down --dir DIR`: PostgreSQL, two RabbitMQ nodes and two platform workers on this machine. */
import { clusterDown, clusterUp } from "../cluster/local-cluster";
import { CliError, parseArgs, stringOption } from "./args";
import { print, type Command } from "./command";
import { limitArgs, limitOptionSpec, limitsHelp } from "./platform-limits";

const help = `Usage: provisio cluster up|down --dir DIR

Runs the cluster mode on this machine, from the Debian packages postgresql and rabbitmq-server:
a PostgreSQL server, a two-node RabbitMQ cluster (MQTT, management and HTTP auth plugins) and
two platform workers, on free loopback ports, all their state under DIR. They run in the
background until \`down\`; \`up\` again on the same DIR starts what is stopped, with the same data
and ports.

  up      start it all (what of it runs already is left as it is; if a part fails to start,
          or up is interrupted, what it started is stopped again); prints one JSON line: {"mqtt": [URL of each broker node], "api": URL,
          "apis": [each worker's API], "adminKeyFile": FILE, "brokerAdmin": [management URLs]}
  down    stop it all (the data stays in DIR)

  --dir DIR   the cluster's folder
  --help      show this help

Limits for the workers (as provisio platform takes them; kept for the next up):
${limitsHelp}

Devices connect to any node's MQTT URL; technicians use any worker's API with the admin key:
  provisio tokens create --platform API --data DIR/worker1`;

export const clusterCommand: Command = {
  name: "cluster",
  help,
  async run(argv) {
    const args = parseArgs(argv, { dir: "string", help: "boolean", ...limitOptionSpec });
    if (args.options.help) {
      print(help);
      return 0;
    }
    const action = args.positionals.join(" ");
    if (action !== "up" && action !== "down") throw new CliError("usage: provisio cluster up|down --dir DIR");
    const dir = stringOption(args, "dir");
    if (!dir) throw new CliError("--dir is required");
    const log = (line: string) => process.stderr.write(line + "\n");
    if (action === "down") {
      await clusterDown(dir, log);
      return 0;
    }
    // Ctrl-C or a SIGTERM during the start-up stops what it had started (the parts run detached:
    // they would outlive this process otherwise).
    const cutOff = new AbortController();
    const abort = (signal: string) => () => cutOff.abort(new Error(`cluster up: ${signal} received`));
    process.once("SIGINT", abort("SIGINT"));
    process.once("SIGTERM", abort("SIGTERM"));
    print(JSON.stringify(await clusterUp(dir, log, { signal: cutOff.signal, workerOptions: limitArgs(args) })));
    return 0;
  },
};
