/**
 * One PostgreSQL server per test process, started on a free loopback port the first time a test
 * asks for a database, stopped when the process exits; each test platform gets a database of its
 * own on it. A missing PostgreSQL is a failure that says what to install, never a skip.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, stopPostgresNow, type PostgresServer } from "../../simulator/cluster/postgres-server";
import { freePort } from "./mosquitto";

let server: Promise<PostgresServer> | undefined;
let databases = 0;

async function start(): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), "provisio-postgres-"));
  process.once("exit", () => {
    stopPostgresNow(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return startPostgres(dir, await freePort());
}

/** A new, empty database; its URL. */
export async function testDatabase(): Promise<string> {
  server ??= start();
  return (await server).createDatabase(`test_${process.pid}_${++databases}`);
}
