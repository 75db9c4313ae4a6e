/** The real `provisio` CLI in a child process, as users run it, with its output collected. */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const bin = join(__dirname, "..", "..", "bin", "provisio.js");

export interface CliRun {
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  exited: Promise<number | null>;
}

/** Runs still alive: a test that fails midway must not leave a device running, nor jest waiting on it. */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill("SIGKILL");
});

/** `env` is added to this process's environment. */
export function provisio(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  running.add(child);
  child.on("exit", () => running.delete(child));
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Resolves with `value()` once it is defined; undefined when the run exits first. */
export async function whileRunning<T>(
  what: string,
  value: () => T | undefined,
  run: CliRun,
  timeoutMs = 30000,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = value();
    if (found !== undefined) return found;
    if (run.child.exitCode !== null) return undefined;
    if (Date.now() > deadline) throw new Error(`no ${what}; output:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The verification code the device printed last. */
export function shownCode(run: CliRun): string | undefined {
  const codes = [...run.output().matchAll(/Verification code:\s+([0-9A-Z]{4}-[0-9A-Z]{4})/g)];
  return codes.length ? codes[codes.length - 1][1] : undefined;
}
