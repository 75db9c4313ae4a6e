/**
 * A reaper (reaper.ts): `node --import tsx reaper-process.ts OWNER_PID cluster|postgres DIR`.
 * Polls its owner twice a second; once the owner is gone, stops the servers in DIR, removes DIR
 * and exits. SIGTERM ends it without touching anything (the owner stopped them).
 */
import { rmSync } from "node:fs";
import { clusterDown } from "../../simulator/cluster/local-cluster";
import { stopPostgres } from "../../simulator/cluster/postgres-server";
import { processAlive } from "../../simulator/process-alive";

const [owner, servers, dir] = process.argv.slice(2);

async function reap(): Promise<void> {
  try {
    if (servers === "cluster") await clusterDown(dir, () => undefined);
    else await stopPostgres(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const watch = setInterval(() => {
  if (processAlive(Number(owner))) return;
  clearInterval(watch);
  void reap().finally(() => process.exit(0));
}, 500);
process.once("SIGTERM", () => process.exit(0));
