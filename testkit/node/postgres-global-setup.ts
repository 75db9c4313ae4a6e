/**
 * jest's global setup of the project `postgres`: one PostgreSQL server for the whole run, on a free
 * loopback port (postgres-global-teardown.ts stops it at the end, whatever became of the test
 * processes: a server started by pg_ctl outlives them). The test processes find it through
 * PROVISIO_TEST_POSTGRES_DIR and _PORT; each test platform gets a database of its own on it.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres } from "../../simulator/cluster/postgres-server";
import { freePort } from "./mosquitto";

export default async function setup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "provisio-postgres-"));
  const server = await startPostgres(dir, await freePort());
  process.env.PROVISIO_TEST_POSTGRES_DIR = dir;
  process.env.PROVISIO_TEST_POSTGRES_PORT = String(server.port);
}
