/**
 * `provisio cluster up|down --dir DIR`: a whole cluster on this machine, from the Debian-installed
 * binaries, all state under DIR: PostgreSQL, a two-node RabbitMQ cluster and two platform workers,
 * on free loopback ports. Everything runs in the background until `down`; `up` again on the same
 * DIR starts what is stopped, on the same ports, with the same data.
 *
 * Node N's auth hook is worker N: a production cluster puts its workers behind a load balancer
 * and points every node at it (README).
 */
import { spawn } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { packageRoot } from "../package-root";
import { processAlive, processOwns, stopProcesses } from "../process-alive";
import { ADMIN_KEY_FILE } from "../platform/data-files";
import { brokerSecrets } from "../platform/cluster/broker-auth";
import { openStore } from "../platform/store";
import { startPostgres, stopPostgres } from "./postgres-server";
import {
  configureRabbitCluster,
  rabbitNodeRunning,
  runningNodes,
  startRabbitNode,
  stopPortMapper,
  stopRabbitNode,
  type RabbitClusterConfig,
} from "./rabbitmq-server";

const WORKERS = 2;
const NODES = 2;
const STATE_FILE = "cluster.json";

/** What `up` prints: where everything is. */
export interface ClusterUrls {
  /** The MQTT URL of each broker node: devices may use any. */
  mqtt: string[];
  /** The first worker's API (any worker's serves the same). */
  api: string;
  apis: string[];
  adminKeyFile: string;
  /** Each node's management API. */
  brokerAdmin: string[];
}

interface ClusterState {
  postgresPort: number;
  rabbit: RabbitClusterConfig;
  workers: { httpPort: number; dataDir: string; pid?: number }[];
  /** What `up` passes on to each worker's `provisio platform` (the limits); kept for the next `up`. */
  workerOptions?: string[];
}

/**
 * A port free now, below Linux's ephemeral range (32768 up): the servers are started one after
 * the other, and a port of that range could meanwhile become the local end of some connection.
 */
async function freeLoopbackPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const server = createServer();
    const free = await new Promise<boolean>((done) => {
      server.once("error", () => done(false));
      server.listen(port, "127.0.0.1", () => done(true));
    });
    if (free) {
      await new Promise((done) => server.close(done));
      taken.add(port);
      return port;
    }
  }
}

/** The ports of a new cluster (kept in DIR, so a restart finds everything where it was). */
async function newState(dir: string): Promise<ClusterState> {
  const taken = new Set<number>();
  const freePort = () => freeLoopbackPort(taken);
  const nodes = [];
  for (let i = 1; i <= NODES; i++)
    nodes.push({
      name: `provisio${i}@localhost`,
      amqpPort: await freePort(),
      mqttPort: await freePort(),
      managementPort: await freePort(),
      distributionPort: await freePort(),
    });
  const workers = [];
  for (let i = 1; i <= WORKERS; i++) workers.push({ httpPort: await freePort(), dataDir: join(dir, `worker${i}`) });
  return {
    postgresPort: await freePort(),
    rabbit: { dir: join(dir, "rabbitmq"), epmdPort: await freePort(), nodes },
    workers,
  };
}

/** Where the parts of a cluster listen. */
export function clusterUrls(state: ClusterState): ClusterUrls {
  const api = (port: number) => `http://127.0.0.1:${port}`;
  return {
    mqtt: state.rabbit.nodes.map((n) => `mqtt://127.0.0.1:${n.mqttPort}`),
    api: api(state.workers[0].httpPort),
    apis: state.workers.map((w) => api(w.httpPort)),
    adminKeyFile: join(state.workers[0].dataDir, ADMIN_KEY_FILE),
    brokerAdmin: state.rabbit.nodes.map((n) => api(n.managementPort)),
  };
}

async function waitForApi(url: string, pid: number, log: string): Promise<void> {
  for (let waited = 0; ; waited += 200) {
    try {
      const response = await fetch(`${url}/api/openapi.json`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (!processAlive(pid) || waited > 60_000) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").slice(-8).join("\n") : "";
      throw new Error(`platform worker at ${url} did not start:\n${tail}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
}

/** Starts a platform worker in the background, its log in its data directory; `started(pid)` hears of it before the wait. */
async function startWorker(
  state: ClusterState,
  index: number,
  databaseUrl: string,
  started: (pid: number) => void,
): Promise<void> {
  const worker = state.workers[index];
  mkdirSync(worker.dataDir, { recursive: true, mode: 0o700 });
  const log = join(worker.dataDir, "platform.log");
  const out = openSync(log, "a");
  // Each worker tries its own node first, then the others.
  const nodes = [...state.rabbit.nodes.slice(index), ...state.rabbit.nodes.slice(0, index)];
  const child = spawn(
    process.execPath,
    [
      join(packageRoot, "bin", "provisio.js"),
      "platform",
      "--data",
      worker.dataDir,
      "--http-port",
      String(worker.httpPort),
      "--broker",
      "rabbitmq",
      "--broker-url",
      nodes.map((n) => `amqp://127.0.0.1:${n.amqpPort}`).join(","),
      "--broker-admin",
      `http://127.0.0.1:${nodes[0].managementPort}`,
      ...(state.workerOptions ?? []),
    ],
    // The database URL holds a password: in the environment, not in the process list.
    {
      env: { ...process.env, PROVISIO_DATABASE_URL: databaseUrl, PROVISIO_BACKGROUND: "1" },
      detached: true,
      stdio: ["ignore", out, out],
    },
  );
  child.unref();
  closeSync(out);
  started(child.pid!);
  await waitForApi(`http://127.0.0.1:${worker.httpPort}`, child.pid!, log);
}

/** A worker's process, if it runs (the pid `up` recorded, if it is still that worker). */
function workerProcess(worker: ClusterState["workers"][number]): number | undefined {
  return processOwns(worker.pid, worker.dataDir) ? worker.pid : undefined;
}

/**
 * Starts what of the cluster in DIR is not running (all of it the first time), the independent
 * parts at once: PostgreSQL, then the two RabbitMQ nodes together, then the two workers together.
 * If a part fails to start, or `signal` aborts the start-up, what this call started is stopped
 * again before it rejects: nothing it started is left running.
 */
export async function clusterUp(
  dirArgument: string,
  log: (line: string) => void,
  options: { signal?: AbortSignal; workerOptions?: string[] } = {},
): Promise<ClusterUrls> {
  const { signal } = options;
  const dir = resolve(dirArgument);
  mkdirSync(dir, { recursive: true });
  // PostgreSQL runs as its own user when this is root, and must pass through DIR to its folder.
  chmodSync(dir, 0o711);
  const stateFile = join(dir, STATE_FILE);
  const state: ClusterState = existsSync(stateFile)
    ? (JSON.parse(readFileSync(stateFile, "utf8")) as ClusterState)
    : await newState(dir);
  if (options.workerOptions?.length) state.workerOptions = options.workerOptions;
  // Written again whenever a process starts, so that `down` finds it even if this one is killed.
  const save = () => writeFileSync(stateFile, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
  save();
  const startedNow: (() => Promise<void>)[] = [];
  // Each step ends within its own time limits; a cut-off is heard between steps, so that nothing
  // is still starting while what started is stopped.
  const step = async <T>(start: Promise<T>): Promise<T> => {
    try {
      return await start;
    } finally {
      signal?.throwIfAborted();
    }
  };
  try {
    log(`postgresql: starting on 127.0.0.1:${state.postgresPort}`);
    const postgres = await step(startPostgres(join(dir, "postgres"), state.postgresPort));
    if (postgres.started) startedNow.push(() => postgres.stop());
    const databaseUrl = await postgres.createDatabase("provisio");
    const db = await openStore({ url: databaseUrl }, Date.now);
    const { authPathSecret } = await brokerSecrets(db).finally(() => db.close());

    const authUrls = state.workers.map((w) => `http://127.0.0.1:${w.httpPort}/broker/auth/${authPathSecret}`);
    configureRabbitCluster(state.rabbit, authUrls);
    await step(
      Promise.all(
        state.rabbit.nodes.map((node) => {
          log(`rabbitmq: starting ${node.name} (MQTT on 127.0.0.1:${node.mqttPort})`);
          return startRabbitNode(state.rabbit, node, () => {
            save();
            startedNow.push(() => stopRabbitNode(state.rabbit, node));
          });
        }),
      ),
    );

    const clustered = runningNodes(state.rabbit, state.rabbit.nodes[0]).then((running) => {
      if (running.length !== NODES)
        throw new Error(`rabbitmq: the nodes did not form one cluster (${running.join(", ")})`);
    });
    const workers = state.workers.map((worker, i) => {
      if (workerProcess(worker)) return Promise.resolve();
      log(`platform: starting worker ${i + 1} (API on 127.0.0.1:${worker.httpPort})`);
      return startWorker(state, i, databaseUrl, (pid) => {
        worker.pid = pid;
        save();
        startedNow.push(() => stopWorker(worker));
      });
    });
    await step(Promise.all([clustered, ...workers]));
    return clusterUrls(state);
  } catch (error) {
    log(`cluster up failed: stopping what it started`);
    await stopInOrder(state, startedNow.reverse());
    throw error;
  }
}

/** Stops the cluster in DIR, what runs of it: the workers, then the broker's nodes, then PostgreSQL. */
export async function clusterDown(dirArgument: string, log: (line: string) => void): Promise<void> {
  const dir = resolve(dirArgument);
  const stateFile = join(dir, STATE_FILE);
  if (!existsSync(stateFile)) throw new Error(`no cluster in ${dir} (no ${STATE_FILE})`);
  const state = JSON.parse(readFileSync(stateFile, "utf8")) as ClusterState;
  await Promise.all(
    state.workers.map((worker, i) => {
      if (workerProcess(worker)) log(`platform: stopping worker ${i + 1}`);
      return stopWorker(worker);
    }),
  );
  await Promise.all(
    state.rabbit.nodes.map((node) => {
      if (rabbitNodeRunning(state.rabbit, node)) log(`rabbitmq: stopping ${node.name}`);
      return stopRabbitNode(state.rabbit, node);
    }),
  );
  await stopPortMapper(state.rabbit);
  log("postgresql: stopping");
  await stopPostgres(join(dir, "postgres"));
}

function stopWorker(worker: ClusterState["workers"][number]): Promise<void> {
  const pid = workerProcess(worker);
  return stopProcesses(pid ? [pid] : [], 10_000);
}

/** Undoes a failed `up`: stops what it started, last first, and the port mapper once no node runs. */
async function stopInOrder(state: ClusterState, stops: (() => Promise<void>)[]): Promise<void> {
  for (const stop of stops) await stop().catch(() => undefined);
  if (!state.rabbit.nodes.some((node) => rabbitNodeRunning(state.rabbit, node))) await stopPortMapper(state.rabbit);
}

/** The cluster's state as `up` left it, for tests that stop and start its parts. */
export function clusterState(dir: string): ClusterState {
  return JSON.parse(readFileSync(join(resolve(dir), STATE_FILE), "utf8")) as ClusterState;
}
