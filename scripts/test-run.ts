/**
 * `npm test`'s last step: jest, then a check that the run left no process behind, whatever became
 * of it (passed, failed, timed out). Every process the run starts (brokers, databases, platform
 * workers, browsers, the XS engine, reapers) inherits PROVISIO_TEST_RUN, a fresh id, in its
 * environment; once jest has exited, any process still carrying it is reported, stopped, and
 * fails the run. Arguments go to jest.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { processesCarrying, stopProcesses } from "../simulator/process-alive";

/** How long servers may take to end after jest has exited (a reaper stops a cluster in about 10 s). */
const SETTLE_MS = 60_000;

const run = randomUUID();
const mark = `PROVISIO_TEST_RUN=${run}`;

function marked(): { pid: number; command: string }[] {
  return processesCarrying(mark).map((pid) => {
    let command = "";
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
    } catch {
      // ended meanwhile
    }
    return { pid, command };
  });
}

async function leftovers(): Promise<{ pid: number; command: string }[]> {
  for (let waited = 0; ; waited += 500) {
    const left = marked();
    if (left.length === 0 || waited >= SETTLE_MS) return left;
    await new Promise((done) => setTimeout(done, 500));
  }
}

async function main(): Promise<number> {
  const jest = spawn(process.execPath, [require.resolve("jest/bin/jest"), ...process.argv.slice(2)], {
    env: { ...process.env, PROVISIO_TEST_RUN: run },
    stdio: "inherit",
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => jest.kill(signal));
  const code = await new Promise<number>((done) =>
    jest.once("exit", (status, signal) => done(status ?? (signal ? 1 : 0))),
  );
  if (!existsSync("/proc")) {
    process.stderr.write("test-run: no /proc here: processes left by the run were not looked for\n");
    return code;
  }
  const left = await leftovers();
  if (left.length === 0) return code;
  process.stderr.write(
    `\ntest-run: FAILED: the test run left ${left.length} process(es) running ${SETTLE_MS / 1000} s after jest exited; stopping them:\n` +
      left.map(({ pid, command }) => `  ${pid} ${command.slice(0, 200)}\n`).join(""),
  );
  await stopProcesses(
    left.map(({ pid }) => pid),
    10_000,
  );
  return 1;
}

void main().then((code) => process.exit(code));
