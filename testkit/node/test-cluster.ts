/**
 * The cluster mode for tests: `provisio cluster up` in a temporary folder (PostgreSQL, two
 * RabbitMQ nodes, two platform workers, all real, on free loopback ports), with the technician's
 * API at hand; `stop()` is `cluster down` and removes the folder. A reaper (reaper.ts) stops it
 * if the process that started it ends first, however it ends.
 *
 * The jest project `cluster` shares one such cluster between its suites (cluster-global-setup.ts):
 * each suite uses Device IDs of its own. tests/cluster starts one of its own, since it stops and
 * kills the cluster's parts.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendApiRequest } from "../../simulator/cli/api-request";
import {
  clusterDown,
  clusterState,
  clusterUp,
  clusterUrls,
  type ClusterUrls,
} from "../../simulator/cluster/local-cluster";
import { runningPostgres } from "../../simulator/cluster/postgres-server";
import { startRabbitNode, stopRabbitNode } from "../../simulator/cluster/rabbitmq-server";
import { openStore } from "../../simulator/platform/store";
import { eventually } from "./eventually";
import type { ApiResult, TestPlatform, TestPlatformOptions } from "./platform";
import { dismissReaper, startReaper } from "./reaper";

/**
 * How long a cluster may take to start: measured 13-35 s on a 2-core machine (idle, and with the
 * test run beside it; bench/results/cluster.json), so a generous multiple of that. Past it, the
 * start-up is abandoned and what it started is stopped.
 */
export const CLUSTER_START_TIMEOUT_MS = 240_000;
/** How long a cluster may take to stop (measured 6-17 s), with the same margin. */
export const CLUSTER_STOP_TIMEOUT_MS = 120_000;

export interface TestCluster {
  dir: string;
  urls: ClusterUrls;
  adminKey: string;
  /** The API of worker `worker` (0 or 1; default the first). */
  api: (method: string, path: string, body?: unknown, worker?: number) => Promise<ApiResult>;
  /** The pid of each worker, as `up` started them. */
  workerPids(): number[];
  /** `cluster up` again: starts whatever was stopped or killed. */
  up(): Promise<void>;
  /** Stops broker node `index` (0 or 1) as its service manager would (SIGTERM). */
  stopNode(index: number): Promise<void>;
  startNode(index: number): Promise<void>;
  /** The platform log lines of worker `worker`. */
  workerLog(worker: number): string;
  /** The shared database's URL. */
  databaseUrl: string;
  stop(): Promise<void>;
}

const log = process.env.PROVISIO_TEST_LOG ? (line: string) => process.stderr.write(line + "\n") : () => undefined;

/**
 * Starts a cluster in a new temporary folder, its workers given `workerOptions` (limits, as
 * `provisio platform` takes them); if it cannot within CLUSTER_START_TIMEOUT_MS, nothing of it is left.
 */
export async function startTestCluster(workerOptions: string[] = []): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "provisio-cluster-"));
  startReaper("cluster", dir);
  try {
    await clusterUp(dir, log, { signal: AbortSignal.timeout(CLUSTER_START_TIMEOUT_MS), workerOptions });
  } catch (error) {
    await dismissReaper(dir);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return runningTestCluster(dir);
}

/** The cluster that runs in `dir` (started by startTestCluster, in this process or another). */
export function runningTestCluster(dir: string): TestCluster {
  const state = () => clusterState(dir);
  let urls = clusterUrls(state());
  const adminKey = readFileSync(urls.adminKeyFile, "utf8").trim();
  const rabbit = () => state().rabbit;
  return {
    dir,
    get urls() {
      return urls;
    },
    adminKey,
    async api(method, path, body, worker = 0) {
      const response = await sendApiRequest(urls.apis[worker] + path, { method, adminKey, body });
      return { status: response.status, body: JSON.parse(response.text) };
    },
    workerPids: () => state().workers.map((w) => w.pid!),
    async up() {
      urls = await clusterUp(dir, log, { signal: AbortSignal.timeout(CLUSTER_START_TIMEOUT_MS) });
    },
    stopNode: (index) => stopRabbitNode(rabbit(), rabbit().nodes[index]),
    async startNode(index) {
      await startRabbitNode(rabbit(), rabbit().nodes[index]);
    },
    workerLog: (worker) => readFileSync(join(state().workers[worker].dataDir, "platform.log"), "utf8"),
    databaseUrl: postgresUrl(dir),
    async stop() {
      await clusterDown(dir, log);
      await dismissReaper(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The URL `cluster up` gave the workers (the password is in the PostgreSQL folder). */
function postgresUrl(dir: string): string {
  return runningPostgres(join(dir, "postgres"), clusterState(dir).postgresPort).url("provisio");
}

/** Why a test cannot run in the cluster mode, when it cannot: what its options ask of the platform. */
function clusterRefusal(options: TestPlatformOptions): string | undefined {
  const asked = Object.keys(options).filter(
    (key) => key !== "database" && options[key as keyof TestPlatformOptions] !== undefined,
  );
  return asked.length === 0 ? undefined : `the cluster mode runs with its own settings (${asked.join(", ")} asked)`;
}

/** Where the jest project `cluster`'s shared cluster runs (cluster-global-setup.ts). */
export const SHARED_CLUSTER_ENV = "PROVISIO_TEST_CLUSTER_DIR";

/**
 * The project's shared cluster as the platform suite's TestPlatform (the jest project `cluster`):
 * devices on node 1, the technician on worker 1. Its workers run on wall time: advanceClock is
 * refused, and so are the options only the embedded platform takes. `stop()` leaves it running
 * for the other suites: the global teardown stops it.
 */
export async function clusterTestPlatform(options: TestPlatformOptions): Promise<TestPlatform> {
  const refusal = clusterRefusal(options);
  if (refusal) throw new Error(refusal);
  const dir = process.env[SHARED_CLUSTER_ENV];
  if (!dir) throw new Error(`no shared cluster (${SHARED_CLUSTER_ENV}): run the suite as the jest project cluster`);
  const cluster = runningTestCluster(dir);
  const node = clusterState(cluster.dir).rabbit.nodes[0];
  const logLines = () => [0, 1].flatMap((worker) => cluster.workerLog(worker).split("\n").filter(Boolean));
  return {
    dataDir: cluster.dir,
    database: "postgres",
    databaseUrl: cluster.databaseUrl,
    openDatabase: () => openStore({ url: cluster.databaseUrl }, Date.now),
    pid: cluster.workerPids()[0],
    mqttPort: node.mqttPort,
    mqttsPort: 0,
    httpPort: Number(new URL(cluster.urls.api).port),
    mqttUrl: cluster.urls.mqtt[0],
    apiUrl: cluster.urls.api,
    adminKey: cluster.adminKey,
    logLines,
    async logged(pattern, timeoutMs = 5000) {
      await eventually(() => logLines().some((line) => pattern.test(line)), `a log line matching ${pattern}`, {
        timeoutMs,
      });
      return logLines().find((line) => pattern.test(line))!;
    },
    clockOffsetMs: 0,
    advanceClock: () => Promise.reject(new Error("the cluster's workers run on wall time: no clock to move")),
    api: (method, path, body) => cluster.api(method, path, body),
    stop: () => Promise.resolve(),
  };
}
