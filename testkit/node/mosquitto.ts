/**
 * Runs the real Mosquitto broker (/usr/sbin/mosquitto) for integration tests, on a free loopback
 * port with a generated config: anonymous access, no persistence. A missing binary is a failure
 * that says what to install, never a skip.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const MOSQUITTO = "/usr/sbin/mosquitto";

export interface TestMosquitto {
  readonly port: number;
  /** Kills the broker and starts a new one on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** Default true; false makes every CONNECT without credentials get CONNACK 5. */
  allowAnonymous?: boolean;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<TestMosquitto> {
  if (!existsSync(MOSQUITTO))
    throw new Error(
      `Mosquitto is not installed (${MOSQUITTO} is missing): install the Debian package \`mosquitto\` (apt-get install mosquitto)`,
    );
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "provisio-mosquitto-"));
  const config = join(dir, "mosquitto.conf");
  writeFileSync(
    config,
    `listener ${port} 127.0.0.1\nallow_anonymous ${options.allowAnonymous ?? true}\npersistence false\nlog_dest stderr\n`,
  );
  let child: ChildProcess;
  let output = "";

  const run = async () => {
    child = spawn(MOSQUITTO, ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    for (let waited = 0; !(await accepts(port)); waited += 50) {
      if (child.exitCode !== null || waited > 10000)
        throw new Error(`mosquitto did not start on port ${port}:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };

  await run();
  return {
    port,
    restart: async () => {
      await kill();
      await run();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
