/** jest's global teardown of the project `postgres`: stops the run's PostgreSQL server (postgres-global-setup.ts). */
import { rmSync } from "node:fs";
import { stopPostgres } from "../../simulator/cluster/postgres-server";
import { dismissReaper } from "./reaper";

export default async function teardown(): Promise<void> {
  const dir = process.env.PROVISIO_TEST_POSTGRES_DIR;
  if (!dir) return;
  await stopPostgres(dir);
  await dismissReaper(dir);
  rmSync(dir, { recursive: true, force: true });
}
