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
import { startRabbitNode, stopRabbitNode } from "../../simulator/cluster/rabbitmq-server";
import type { ApiResult } from "./platform";

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
    async stop() {
      await clusterDown(dir, log);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
