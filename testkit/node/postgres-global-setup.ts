/**
 * jest's global setup of the project `postgres`: one PostgreSQL server for the whole run, on a free
 * loopback port (postgres-global-teardown.ts stops it at the end; its reaper, if the run ends
 * first: a server started by pg_ctl outlives the test processes). The test processes find it
 * through PROVISIO_TEST_POSTGRES_DIR and _PORT; each test platform gets a database of its own on it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, stopPostgres } from "../../simulator/cluster/postgres-server";
import { freePort } from "./mosquitto";
import { dismissReaper, startReaper } from "./reaper";

export default async function setup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "provisio-postgres-"));
  startReaper("postgres", dir);
  try {
    const server = await startPostgres(dir, await freePort());
    process.env.PROVISIO_TEST_POSTGRES_DIR = dir;
    process.env.PROVISIO_TEST_POSTGRES_PORT = String(server.port);
  } catch (error) {
    await stopPostgres(dir).catch(() => undefined);
    await dismissReaper(dir);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
