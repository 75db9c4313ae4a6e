/**
 * `provisio cluster up` as users run it (the real CLI, Debian's PostgreSQL and RabbitMQ): a
 * start-up that cannot succeed says why before it starts anything, and one that is interrupted
 * stops what it had started.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { clusterDown } from "../../simulator/cluster/local-cluster";
import { processesCarrying } from "../../simulator/process-alive";
import { provisio, whileRunning } from "../../testkit/e2e/cli-process";
import { eventually } from "../../testkit/node/eventually";
import { CLUSTER_START_TIMEOUT_MS, CLUSTER_STOP_TIMEOUT_MS } from "../../testkit/node/test-cluster";

let parent: string;
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), "provisio-cluster-up-"));
});
afterEach(async () => {
  const dir = join(parent, "cluster");
  if (existsSync(join(dir, "cluster.json"))) await clusterDown(dir, () => undefined).catch(() => undefined);
  rmSync(parent, { recursive: true, force: true });
}, CLUSTER_STOP_TIMEOUT_MS);

// As root, PostgreSQL runs as the user postgres; another user runs it as itself, and any folder
// it can write to will do.
const asRoot = userInfo().uid === 0 ? test : test.skip;

asRoot("as root, a folder PostgreSQL cannot pass through is named, with the fix, before anything starts", async () => {
  chmodSync(parent, 0o700); // as mkdtemp makes it, and as /root is
  const dir = join(parent, "cluster");
  const run = provisio(["cluster", "up", "--dir", dir]);
  expect(await run.exited).toBe(1);
  expect(run.output()).toContain(`PostgreSQL runs as the user postgres, who cannot pass through ${parent} (mode 0700)`);
  expect(run.output()).toContain(`chmod o+x ${parent}`);
  expect(processesCarrying(dir)).toEqual([]);
  expect(existsSync(join(dir, "postgres", "data"))).toBe(false);
});

test(
  "interrupted while it starts, cluster up stops what it had started and leaves no process",
  async () => {
    chmodSync(parent, 0o755);
    const dir = join(parent, "cluster");
    const run = provisio(["cluster", "up", "--dir", dir]);
    // Cut off while the broker's nodes boot: PostgreSQL and both nodes run by then.
    await whileRunning("the nodes starting", () => /rabbitmq: starting provisio2/.exec(run.output()) ?? undefined, run);
    await eventually(() => processesCarrying(join(dir, "rabbitmq")).length >= 2, "both nodes' processes", {
      timeoutMs: 10_000,
    });
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("cluster up: SIGTERM received");
    expect(run.output()).toContain("cluster up failed: stopping what it started");
    expect(processesCarrying(dir)).toEqual([]);
  },
  CLUSTER_START_TIMEOUT_MS + CLUSTER_STOP_TIMEOUT_MS,
);
