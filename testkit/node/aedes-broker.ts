/**
 * A real aedes broker on a free loopback port for integration tests. It runs in a child process
 * (aedes-process.ts) because jest cannot load aedes' ES module; what its hooks see comes back as
 * events.
 */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";

export interface AedesTestOptions {
  /** When set, a CONNECT with another password gets CONNACK 4. */
  password?: string;
  /** The first PUBLISH on this topic makes the broker drop the link instead of acknowledging it. */
  dropFirstPublishOn?: string;
  /** No hooks and no events: aedes as it comes, the baseline of the platform benchmarks. */
  plain?: boolean;
}

export type AedesEvent =
  | { kind: "authenticate"; username: string | null }
  | { kind: "publish"; topic: string; messageId: number | null; dup: boolean };

export type AedesChildMessage = { ready: number } | { event: AedesEvent };
export type AedesParentMessage = "restart" | "stop";

export interface TestAedes {
  readonly port: number;
  /** What the broker's hooks saw, in order. */
  readonly events: AedesEvent[];
  /** Closes the broker (cutting every client) and serves a fresh one on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startAedes(options: AedesTestOptions = {}): Promise<TestAedes> {
  const events: AedesEvent[] = [];
  const child: ChildProcess = fork(join(__dirname, "aedes-process.ts"), [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, PROVISIO_AEDES_OPTIONS: JSON.stringify(options) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = () =>
    new Promise<number>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`aedes process exited (${code}) before it was ready`));
      const onMessage = (message: AedesChildMessage) => {
        if (!("ready" in message)) return;
        child.off("message", onMessage).off("exit", onExit);
        resolve(message.ready);
      };
      child.on("message", onMessage).once("exit", onExit);
    });
  child.on("message", (message: AedesChildMessage) => "event" in message && events.push(message.event));
  const port = await ready();
  return {
    port,
    events,
    restart: async () => {
      const next = ready();
      child.send("restart");
      await next;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send("stop");
      await exited;
    },
  };
}
