/**
 * The cluster mode for tests: `provisio cluster up` in a temporary folder (PostgreSQL, two
 * RabbitMQ nodes, two platform workers, all real, on free loopback ports), with the technician's
 * API at hand; `stop()` is `cluster down` and removes the folder.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendApiRequest } from "../../simulator/cli/api-request";
import { clusterDown, clusterState, clusterUp, type ClusterUrls } from "../../simulator/cluster/local-cluster";
import { runningPostgres } from "../../simulator/cluster/postgres-server";
import { startRabbitNode, stopRabbitNode } from "../../simulator/cluster/rabbitmq-server";
import { openStore } from "../../simulator/platform/store";
import { eventually } from "./eventually";
import type { ApiResult, TestPlatform, TestPlatformOptions } from "./platform";

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
  /** Stops broker node `index` (0 or 1) as an operator would (rabbitmqctl stop). */
  stopNode(index: number): Promise<void>;
  startNode(index: number): Promise<void>;
  /** The platform log lines of worker `worker`. */
  workerLog(worker: number): string;
  /** The shared database's URL. */
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "provisio-cluster-"));
  const log = process.env.PROVISIO_TEST_LOG ? (line: string) => process.stderr.write(line + "\n") : () => undefined;
  let urls: ClusterUrls;
  try {
    urls = await clusterUp(dir, log);
  } catch (error) {
    await clusterDown(dir, log).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const adminKey = readFileSync(urls.adminKeyFile, "utf8").trim();
  const rabbit = () => clusterState(dir).rabbit;
  return {
    dir,
    urls,
    adminKey,
    async api(method, path, body, worker = 0) {
      const response = await sendApiRequest(urls.apis[worker] + path, { method, adminKey, body });
      return { status: response.status, body: JSON.parse(response.text) };
    },
    workerPids: () => clusterState(dir).workers.map((w) => w.pid!),
    async up() {
      urls = await clusterUp(dir, log);
    },
    stopNode: (index) => stopRabbitNode(rabbit(), rabbit().nodes[index]),
    startNode: (index) => startRabbitNode(rabbit(), rabbit().nodes[index]),
    workerLog: (worker) => readFileSync(join(clusterState(dir).workers[worker].dataDir, "platform.log"), "utf8"),
    databaseUrl: postgresUrl(dir),
    async stop() {
      await clusterDown(dir, log);
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

/**
 * The cluster as the platform suite's TestPlatform (the jest project `cluster`): devices on node 1,
 * the technician on worker 1. Its workers run on wall time: advanceClock is refused, and so are
 * the options only the embedded platform takes.
 */
export async function clusterTestPlatform(options: TestPlatformOptions): Promise<TestPlatform> {
  const refusal = clusterRefusal(options);
  if (refusal) throw new Error(refusal);
  const cluster = await startTestCluster();
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
    stop: () => cluster.stop(),
  };
}
