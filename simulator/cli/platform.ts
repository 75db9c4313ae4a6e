/** `provisio platform`: runs the platform in this process until SIGINT/SIGTERM. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ADMIN_KEY_FILE } from "../platform/data-files";
import { plainOnNetwork, startPlatform, type PlatformTlsOptions } from "../platform/platform";
import { isPostgresUrl } from "../platform/store";
import { CliError, integerOption, parseArgs, stringOption, type ParsedArgs } from "./args";
import { DEFAULT_DATA_DIR } from "./api-client";
import { print, type Command } from "./command";
import { limitOptionSpec, limitsFrom, limitsHelp } from "./platform-limits";

const help = `Usage: provisio platform [options]

Runs the MQTT broker, the provisioning service and the HTTP API until SIGINT/SIGTERM.

  --mqtt-port N    plain MQTT port (default 1883; 0 picks a free one)
  --tls-cert FILE  server certificate chain (PEM): also listen for MQTT over TLS, and serve
                   the HTTP API over HTTPS only
  --tls-key FILE   its private key (PEM)
  --mqtts-port N   MQTT-over-TLS port (default 8883; 0 picks a free one)
  --no-plain       no plain MQTT listener (TLS only)
  --allow-plain-on-network
                   listen for plain MQTT, or the HTTP API without TLS, on a non-loopback
                   --host anyway: tokens or the admin key cross the network readably
                   (refused without this flag)
  --http-port N    HTTP API port, HTTPS with --tls-cert (default 8080; 0 picks a free one)
  --host ADDR      address to listen on (default 127.0.0.1)
  --data DIR       data directory (default ${DEFAULT_DATA_DIR}); the admin key is DIR/${ADMIN_KEY_FILE}
  --database URL   keep the state in PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB) instead
                   of SQLite in --data; every worker given the same URL shares it. The URL may
                   come from the environment variable PROVISIO_DATABASE_URL instead, which
                   keeps its password out of the process list
  --broker rabbitmq
                   cluster mode: devices connect to a RabbitMQ cluster, not to this process;
                   it asks this worker's API who may do what (HTTP auth hook), and this worker
                   serves requests and stores messages as its AMQP client. Needs --database;
                   the MQTT and TLS listener options do not apply
  --broker-url URLS
                   the nodes' AMQP URLs, comma-separated, tried in turn (amqp://HOST:PORT)
  --broker-admin URL
                   a node's management API (http://HOST:PORT)
  --help           show this help

Limits, each an integer (a value out of its bounds is refused):
${limitsHelp}`;

function tlsOptions(args: ParsedArgs): PlatformTlsOptions | undefined {
  const certFile = stringOption(args, "tls-cert");
  const keyFile = stringOption(args, "tls-key");
  if (certFile === undefined && keyFile === undefined) {
    if (args.options["mqtts-port"] !== undefined) throw new CliError("--mqtts-port needs --tls-cert and --tls-key");
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) throw new CliError("--tls-cert and --tls-key go together");
  const read = (option: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new CliError(`--${option}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  return {
    cert: read("tls-cert", certFile),
    key: read("tls-key", keyFile),
    port: integerOption(args, "mqtts-port", 0, 65535) ?? 8883,
  };
}

function rabbitmqOptions(args: ParsedArgs, database: string | undefined) {
  const broker = stringOption(args, "broker");
  const urls = stringOption(args, "broker-url");
  const adminUrl = stringOption(args, "broker-admin");
  if (broker === undefined) {
    if (urls !== undefined || adminUrl !== undefined)
      throw new CliError("--broker-url and --broker-admin need --broker rabbitmq");
    return undefined;
  }
  if (broker !== "rabbitmq") throw new CliError(`--broker ${broker}: the clustered broker supported is rabbitmq`);
  if (database === undefined) throw new CliError("--broker rabbitmq needs --database (the workers share PostgreSQL)");
  if (urls === undefined || adminUrl === undefined)
    throw new CliError("--broker rabbitmq needs --broker-url amqp://HOST:PORT[,…] and --broker-admin http://HOST:PORT");
  const list = urls.split(",").map((url) => url.trim());
  if (list.some((url) => !/^amqps?:\/\/[^/]+/.test(url)))
    throw new CliError("--broker-url takes amqp://HOST:PORT URLs");
  if (!/^https?:\/\//.test(adminUrl)) throw new CliError("--broker-admin takes an http://HOST:PORT URL");
  return { urls: list, adminUrl: adminUrl.replace(/\/$/, "") };
}

export const platformCommand: Command = {
  name: "platform",
  help,
  async run(argv) {
    const args = parseArgs(argv, {
      "mqtt-port": "string",
      "http-port": "string",
      host: "string",
      data: "string",
      database: "string",
      broker: "string",
      "broker-url": "string",
      "broker-admin": "string",
      help: "boolean",
      "tls-cert": "string",
      "tls-key": "string",
      "mqtts-port": "string",
      "no-plain": "boolean",
      "allow-plain-on-network": "boolean",
      ...limitOptionSpec,
    });
    if (args.options.help) {
      print(help);
      return 0;
    }
    const dataDir = resolve(stringOption(args, "data") ?? DEFAULT_DATA_DIR);
    const database = stringOption(args, "database") ?? (process.env.PROVISIO_DATABASE_URL || undefined);
    if (database !== undefined && !isPostgresUrl(database))
      throw new CliError("--database takes a PostgreSQL URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE");
    const host = stringOption(args, "host") ?? "127.0.0.1";
    const plain = args.options["no-plain"] !== true;
    const tls = tlsOptions(args);
    if (!plain && !tls) throw new CliError("--no-plain needs --tls-cert and --tls-key");
    const allowPlainOnNetwork = args.options["allow-plain-on-network"] === true;
    const refusal = plainOnNetwork({ host, plain, tls, allowPlainOnNetwork });
    if (refusal)
      throw new CliError(
        `${refusal}: use --tls-cert/--tls-key with --no-plain, or insist with --allow-plain-on-network`,
      );
    const limits = limitsFrom(args);
    const platform = await startPlatform({
      ...limits,
      dataDir,
      database,
      rabbitmq: rabbitmqOptions(args, database),
      host,
      mqttPort: integerOption(args, "mqtt-port", 0, 65535) ?? 1883,
      tls,
      plain,
      allowPlainOnNetwork,
      httpPort: integerOption(args, "http-port", 0, 65535) ?? 8080,
      log: (line) => process.stderr.write(line + "\n"),
    });
    const urls = [
      platform.mqttPort === undefined ? "" : `mqtt://${host}:${platform.mqttPort}`,
      platform.mqttsPort === undefined ? "" : `mqtts://${host}:${platform.mqttsPort}`,
    ];
    print(`provisio platform ready: ${urls.filter(Boolean).join(" ")} ${platform.apiUrl}`);
    const trust = tls ? " --ca FILE (the CA that signed --tls-cert)" : "";
    print(`technician commands: --platform ${platform.apiUrl}${trust} --data ${dataDir}`);
    print(`technician console: ${platform.apiUrl}/ (sign in with the admin key)`);
    print(`admin key in ${resolve(dataDir, ADMIN_KEY_FILE)}; stop with Ctrl-C`);
    const signal = await new Promise<string>((done) => {
      process.once("SIGINT", () => done("SIGINT"));
      process.once("SIGTERM", () => done("SIGTERM"));
    });
    process.stderr.write(`${signal}: shutting down\n`);
    await platform.close();
    return 0;
  },
};
