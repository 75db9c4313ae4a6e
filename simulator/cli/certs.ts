/** `provisio certs create`: a development CA and a server certificate for the platform's TLS listener. */
import { resolve } from "node:path";
import { createCa, createServerCert, validityFor } from "../certs/development-ca";
import { CliError, integerOption, parseArgs, stringOption } from "./args";
import { print, type Command } from "./command";

const help = `Usage: provisio certs create --dir DIR --host NAME[,NAME…] [--days N]

Makes a development CA and a server certificate signed by it, both ECDSA P-256 (the only curve
Moddable's TLS supports), with the openssl command. In DIR:

  ca.pem, ca.der   the CA certificate, PEM for desktop devices (provisio device --ca DIR/ca.pem)
                   and DER for the ESP32 manifest's resources: name the file, "./DIR/ca.der"
                   (a resource without an extension takes ca.key too)
  ca.key           the CA's private key (mode 0600): keep it off devices and out of git
  server.pem, server.key
                   the server's chain (its certificate, then the CA: Moddable devices need the
                   chain) and key, for provisio platform --tls-cert DIR/server.pem --tls-key DIR/server.key

  --dir DIR        where to write them; existing files are never overwritten
  --host NAMES     comma-separated host names and IP addresses the devices connect to
                   (each becomes a subjectAltName; devices check it)
  --days N         server certificate lifetime (default 825)
  --help           show this help`;

export const certsCommand: Command = {
  name: "certs",
  help,
  async run(argv) {
    const args = parseArgs(argv, { dir: "string", host: "string", days: "string", help: "boolean" });
    if (args.options.help) {
      print(help);
      return 0;
    }
    if (args.positionals.join(" ") !== "create")
      throw new CliError("usage: provisio certs create --dir DIR --host NAME[,NAME…] (see --help)");
    const dirOption = stringOption(args, "dir");
    if (!dirOption) throw new CliError("--dir is required");
    const hosts = (stringOption(args, "host") ?? "")
      .split(",")
      .map((h) => h.trim())
      .filter(Boolean);
    if (hosts.length === 0)
      throw new CliError("--host is required: the names devices connect to, e.g. --host localhost,127.0.0.1");
    const days = integerOption(args, "days", 1, 3650);
    const dir = resolve(dirOption);
    const ca = createCa({ dir });
    const server = createServerCert({ ca, dir, hosts, validity: days === undefined ? undefined : validityFor(days) });
    print(
      `CA: ${ca.cert} (DER for the ESP32: ${ca.der}, the only file of DIR to embed); its key ${ca.key} stays private`,
    );
    print(`server chain for ${hosts.join(", ")}: ${server.cert}, key ${server.key}`);
    print(`run: provisio platform --tls-cert ${server.cert} --tls-key ${server.key}`);
    return 0;
  },
};
