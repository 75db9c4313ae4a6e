/**
 * `provisio demo` (npm start): a platform on free ports with a temporary data directory, a
 * provisioning token and one simulated device, so the whole flow runs with one command. The device
 * (MQTT) and the technician (HTTPS API) talk to the platform over TLS, verified against a
 * development CA made for the run.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { createCa, createServerCert } from "../certs/development-ca";
import { ADMIN_KEY_FILE } from "../platform/data-files";
import { startPlatform } from "../platform/platform";
import { devicePorts } from "../device/node-ports";
import { startXsDevice } from "../device/xs-host";
import { ApiClient } from "./api-client";
import { integerOption, parseArgs } from "./args";
import { print, type Command } from "./command";

const DEVICE_ID = "demo-device-01";

interface PendingOperation {
  id: string;
  verificationCode: string | null;
  requestedDeviceId: string | null;
}

interface StoredMessage {
  id: number;
  deviceId: string;
  stream: string;
  payloadBase64: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function askApproval(code: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question(`[technician] Does the device show ${code} too? Approve it? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

export const demoCommand: Command = {
  name: "demo",
  help: `Usage: provisio demo [--yes] [--messages N]

Starts a platform on free ports with a temporary data directory (MQTT over TLS only and the
technician API over HTTPS, with a development CA made for the run), makes a provisioning token and runs one simulated device with it, its SDK core inside the XS engine as on an ESP32. Both sides
show the verification code; you compare them and approve. The device registers and its messages appear as the platform stores them. Ctrl-C stops.

  --yes            approve without asking (also when there is no terminal)
  --messages N     exit after N messages have arrived
  --help           show this help`,

  async run(argv) {
    const args = parseArgs(argv, { yes: "boolean", messages: "string", help: "boolean" });
    if (args.options.help) {
      print(demoCommand.help);
      return 0;
    }
    const autoApprove = args.options.yes === true || !process.stdin.isTTY;
    const wanted = integerOption(args, "messages", 1, 100000);
    const dataDir = mkdtempSync(join(tmpdir(), "provisio-demo-"));
    const certsDir = join(dataDir, "certs");
    const ca = createCa({ dir: certsDir, name: "Provisio demo CA" });
    const server = createServerCert({ ca, dir: certsDir, hosts: ["localhost", "127.0.0.1"] });
    const platform = await startPlatform({
      dataDir,
      plain: false,
      tls: { cert: readFileSync(server.cert), key: readFileSync(server.key), port: 0 },
      httpPort: 0,
      log: () => {},
    });
    const mqttsPort = platform.mqttsPort!;
    const api = ApiClient.fromArgs({
      positionals: [],
      options: { platform: platform.apiUrl, ca: ca.cert, data: dataDir },
    });
    print(`[platform] development CA made for this run: ${ca.cert}`);
    print(`[platform] MQTT over TLS on 127.0.0.1:${mqttsPort} (no plain MQTT), technician API on ${platform.apiUrl}`);
    print(`[platform] try: npx provisio ops list --platform ${platform.apiUrl} --ca ${ca.cert} --data ${dataDir}`);
    print(
      `[platform] or the console: ${platform.apiUrl}/ (trust ${ca.cert}; admin key in ${join(dataDir, ADMIN_KEY_FILE)})`,
    );
    const { token } = await api.request("POST", "/api/tokens", { name: "demo" });
    print("[platform] provisioning token created for the demo fleet");

    let stopping = false;
    let exitCode = 0;
    let wake: () => void = () => {};
    const stopped = new Promise<void>((resolve) => (wake = resolve));
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      wake();
    };
    process.once("SIGINT", () => stop(0));
    process.once("SIGTERM", () => stop(0));

    let deviceCode = "";
    // The device runs its SDK core inside the real XS engine, as on an ESP32.
    const device = await startXsDevice({
      ports: devicePorts({ host: "127.0.0.1", port: mqttsPort, tls: { caFile: ca.cert } }, false),
      provisioningToken: token,
      deviceId: DEVICE_ID,
      stateDir: join(dataDir, "device"),
      sampleIntervalMs: 2000,
      print: (line) => print(`[device] ${line.replace(/^device: /, "")}`),
      onDisplay: (code) => (deviceCode = code),
    });
    void device.finished.then((code) => stop(code));

    const technician = async () => {
      let operation: PendingOperation | undefined;
      while (!stopping && !operation) {
        const { operations } = (await api.request("GET", "/api/operations?state=pending")) as {
          operations: PendingOperation[];
        };
        operation = operations.find((op) => op.verificationCode !== null);
        if (!operation) await sleep(300);
      }
      if (!operation || stopping) return;
      const code = operation.verificationCode!;
      print(
        `[platform] operation ${operation.id} from ${operation.requestedDeviceId ?? "a device"} shows the code ${code}`,
      );
      let approve: boolean;
      if (!autoApprove) approve = await askApproval(code);
      else {
        approve = code === deviceCode;
        print(
          `[technician] the device shows ${deviceCode}: ${approve ? "the codes match, approving" : "the codes differ, rejecting"}`,
        );
      }
      if (stopping) return;
      await api.request(
        "POST",
        `/api/operations/${encodeURIComponent(operation.id)}/${approve ? "approve" : "reject"}`,
        {},
      );
      print(`[platform] operation ${approve ? "approved" : "rejected"}`);
      const seen = new Set<number>();
      while (!stopping) {
        const { messages } = (await api.request("GET", `/api/messages?device=${DEVICE_ID}&limit=100`)) as {
          messages: StoredMessage[];
        };
        for (const message of [...messages].reverse()) {
          if (seen.has(message.id)) continue;
          seen.add(message.id);
          print(
            `[platform] message from ${message.deviceId} on ${message.stream}: ${Buffer.from(message.payloadBase64, "base64").toString("utf8")}`,
          );
          if (wanted !== undefined && seen.size >= wanted) return stop(0);
        }
        await sleep(500);
      }
    };
    technician().catch((error: Error) => {
      print(`[technician] ${error.message}`);
      stop(1);
    });

    await stopped;
    device.stop();
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
    print("[demo] stopped");
    return exitCode;
  },
};
