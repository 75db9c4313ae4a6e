/**
 * A database of its own for each test platform, on the PostgreSQL server the jest project
 * `postgres` starts for the whole run (postgres-global.ts). Outside that project there is none:
 * a clear error says so.
 */
import { randomBytes } from "node:crypto";
import { runningPostgres } from "../../simulator/cluster/postgres-server";

/** A new, empty database; its URL. */
export async function testDatabase(): Promise<string> {
  const dir = process.env.PROVISIO_TEST_POSTGRES_DIR;
  const port = Number(process.env.PROVISIO_TEST_POSTGRES_PORT);
  if (!dir || !port) throw new Error("no test PostgreSQL: run the test in the jest project `postgres`");
  // Random: jest gives each test file fresh modules, so a counter here would start again at each.
  return runningPostgres(dir, port).createDatabase(`test_${randomBytes(8).toString("hex")}`);
}
