/**
 * The technician CLI's start-up (goal: under 300 ms for a technician command): the median wall
 * time of `provisio ops --help` and of a failing `provisio ops list` (no platform: it loads the
 * API client and gives up at once), each against a bare `node -e ""` measured in the same run,
 * so the ratio says what the CLI adds over Node's own start. Run alone: `npm run bench -- cli`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { BenchReport } from "./run";

const runs = 15;
const bin = join(__dirname, "../bin/provisio.js");

function medianMs(args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    spawnSync(process.execPath, args, { stdio: "ignore", env: { ...process.env, PROVISIO_ADMIN_KEY: "k" } });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[runs >> 1]);
}

export async function run(): Promise<BenchReport> {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: join(__dirname, ".."), stdio: "ignore" });
  const node = medianMs(["-e", ""]);
  const help = medianMs([bin, "ops", "--help"]);
  const list = medianMs([bin, "ops", "list", "--platform", "http://127.0.0.1:1"]);
  return {
    name: "cli",
    results: {
      runs,
      medianMs: { node, opsHelp: help, opsListUnreachable: list },
      overNode: { opsHelp: help - node, opsListUnreachable: list - node },
    },
    summary:
      `provisio ops --help ${help} ms, ops list (platform unreachable) ${list} ms, against bare node ${node} ms ` +
      `(the CLI adds ${help - node} and ${list - node} ms; goal under 300 ms: ${Math.max(help, list) < 300 ? "met" : "missed"})`,
  };
}
