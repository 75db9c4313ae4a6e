/**
 * jest's global setup of the project `cluster`: one cluster for all its suites (each suite uses
 * Device IDs of its own), stopped by cluster-global-teardown.ts, or by its reaper if this run
 * ends first. The test processes find it through PROVISIO_TEST_CLUSTER_DIR.
 */
import { SHARED_CLUSTER_ENV, startTestCluster } from "./test-cluster";

export default async function setup(): Promise<void> {
  // As the embedded test platforms: the suites start hundreds of operations from this one address.
  process.env[SHARED_CLUSTER_ENV] = (await startTestCluster(["--inits-per-address", "1000"])).dir;
}
