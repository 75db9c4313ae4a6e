/**
 * `provisio platform` as an operator runs it: the compiled CLI in a child process, on free ports in
 * a temporary data directory, with the options given (limits, say). For the tests of the CLI's own
 * options and for the benches, which measure the product as it ships.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendApiRequest } from "../../simulator/cli/api-request";
import type { ApiResult } from "./platform";

export interface CliPlatform {
  pid: number;
  dataDir: string;
  mqttUrl: string;
  mqttPort: number;
  apiUrl: string;
  adminKey: string;
  api(method: string, path: string, body?: unknown): Promise<ApiResult>;
  stop(): Promise<void>;
}

const bin = join(__dirname, "..", "..", "bin", "provisio.js");

export async function startCliPlatform(options: string[] = []): Promise<CliPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), "provisio-cli-platform-"));
  const child = spawn(
    process.execPath,
    [bin, "platform", "--data", dataDir, "--mqtt-port", "0", "--http-port", "0", ...options],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const [, mqttUrl, apiUrl] = await new Promise<RegExpExecArray>((resolve, reject) => {
      const look = (chunk: Buffer) => {
        output += chunk.toString();
        const ready = /provisio platform ready: (mqtt:\/\/\S+) (http:\/\/\S+)/.exec(output);
        if (!ready) return;
        // From here its log is read and dropped: a platform under load writes plenty.
        for (const stream of [child.stdout, child.stderr]) stream.off("data", look).resume();
        resolve(ready);
      };
      child.stdout.on("data", look);
      child.stderr.on("data", look);
      void exited.then(() => reject(new Error(`provisio platform exited:\n${output}`)));
    });
    const adminKey = readFileSync(join(dataDir, "admin.key"), "utf8").trim();
    return {
      pid: child.pid!,
      dataDir,
      mqttUrl,
      mqttPort: Number(new URL(mqttUrl).port),
      apiUrl,
      adminKey,
      async api(method, path, body) {
        const response = await sendApiRequest(apiUrl + path, { method, adminKey, body });
        return { status: response.status, body: JSON.parse(response.text) };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
