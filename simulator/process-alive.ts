import { readFileSync, readdirSync } from "node:fs";

/**
 * Whether a process of this pid runs (one of another user's counts: kill answers EPERM). A zombie
 * does not: it has exited, and its parent may never reap it (an orphan in a container whose first
 * process reaps nothing).
 */
export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return !zombie(pid);
}

function zombie(pid: number): boolean {
  try {
    // The state follows the command name, which is in parentheses and may hold anything.
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is alive and is still the process a state file recorded: its command line or
 * environment holds `mark` (a folder of its own). A pid kept across a reboot may name another
 * program by now, which must never be signalled.
 */
export function processOwns(pid: number | undefined, mark: string): boolean {
  return processAlive(pid) && carries(pid!, mark);
}

/** The live processes whose command line or environment holds `mark` (Linux: read from /proc). */
export function processesCarrying(mark: string): number[] {
  return readdirSync("/proc")
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid && processOwns(pid, mark));
}

function carries(pid: number, mark: string): boolean {
  try {
    return ["cmdline", "environ"].some((file) =>
      readFileSync(`/proc/${pid}/${file}`, "latin1")
        .split("\0")
        .some((part) => part.includes(mark)),
    );
  } catch {
    return false; // ended meanwhile, or another user's
  }
}

/**
 * Stops these processes: SIGTERM (each stops cleanly on it), then SIGKILL to what is still alive
 * after `graceMs`. Resolves once none is left.
 */
export async function stopProcesses(pids: number[], graceMs: number): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    for (const pid of pids.filter(processAlive)) {
      try {
        process.kill(pid, name);
      } catch {
        // gone meanwhile
      }
    }
  };
  signal("SIGTERM");
  for (let waited = 0; pids.some(processAlive); waited += 100) {
    if (waited === graceMs) signal("SIGKILL");
    await new Promise((done) => setTimeout(done, 100));
  }
}
