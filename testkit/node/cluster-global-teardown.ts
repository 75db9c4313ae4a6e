/** jest's global teardown of the project `cluster`: stops the shared cluster (cluster-global-setup.ts). */
import { SHARED_CLUSTER_ENV, runningTestCluster } from "./test-cluster";

export default async function teardown(): Promise<void> {
  const dir = process.env[SHARED_CLUSTER_ENV];
  if (dir) await runningTestCluster(dir).stop();
}
