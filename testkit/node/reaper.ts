/**
 * Servers a test run starts in the background (PostgreSQL, a cluster) outlive the process that
 * started them: that is how they serve several test processes. So each gets a reaper, a small
 * detached process that watches its owner and, once the owner is gone without having stopped them
 * (killed, cut off by a timeout, crashed), stops them and removes their folder. The owner that
 * stops them itself ends its reaper after (`dismissReaper`).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processAlive, stopProcesses } from "../../simulator/process-alive";

export type ReapedServers = "cluster" | "postgres";

const PID_FILE = "reaper.pid";

/** Starts the reaper of the servers in `dir`, owned by this process; its pid goes in `dir`. */
export function startReaper(servers: ReapedServers, dir: string): void {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(__dirname, "reaper-process.ts"), String(process.pid), servers, dir],
    { detached: true, stdio: "ignore" },
  );
  child.unref();
  writeFileSync(join(dir, PID_FILE), String(child.pid));
}

/** Ends the reaper of `dir`: its owner has stopped the servers itself. */
export async function dismissReaper(dir: string): Promise<void> {
  const file = join(dir, PID_FILE);
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, "utf8"));
  if (processAlive(pid)) await stopProcesses([pid], 5000);
}
