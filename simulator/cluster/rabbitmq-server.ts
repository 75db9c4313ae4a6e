/**
 * A local RabbitMQ node from the Debian-installed server (rabbitmq-server 3.10), all its state
 * under one directory: what `provisio cluster up` runs, two of them clustered, and what the
 * cluster tests start. Each node listens on loopback only (AMQP, MQTT, management, and Erlang's
 * own distribution port and port mapper), asks the platform's auth hook who may do what, and
 * finds the other nodes by the static list it is given (peer discovery `classic_config`).
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { processOwns, stopProcesses } from "../process-alive";

const run = promisify(execFile);
const SBIN = "/usr/lib/rabbitmq/bin";
const PLUGINS = ["rabbitmq_mqtt", "rabbitmq_management", "rabbitmq_auth_backend_http"];

export interface RabbitNode {
  /** Erlang node name, NAME@localhost. */
  name: string;
  amqpPort: number;
  mqttPort: number;
  managementPort: number;
  distributionPort: number;
  /** The `rabbitmq-server` script started last (it runs the Erlang VM and stops it on SIGTERM). */
  pid?: number;
}

export interface RabbitClusterConfig {
  /** Folder of the whole broker: the shared Erlang cookie, and a folder per node. */
  dir: string;
  /** Erlang's port mapper for these nodes (one per cluster, on loopback). */
  epmdPort: number;
  nodes: RabbitNode[];
}

function checkInstalled(): void {
  if (!existsSync(join(SBIN, "rabbitmq-server")))
    throw new Error("RabbitMQ is not installed (no /usr/lib/rabbitmq/bin/rabbitmq-server): install `rabbitmq-server`");
}

function nodeDir(cluster: RabbitClusterConfig, node: RabbitNode): string {
  return join(cluster.dir, node.name.split("@")[0]);
}

/** The environment RabbitMQ's scripts read for a node of this cluster (the server and rabbitmqctl alike). */
function nodeEnv(cluster: RabbitClusterConfig, node: RabbitNode): NodeJS.ProcessEnv {
  const dir = nodeDir(cluster, node);
  return {
    ...process.env,
    // The Erlang cookie, shared by the nodes and the CLI, is $HOME/.erlang.cookie.
    HOME: cluster.dir,
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_BASE: dir,
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
    RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
    RABBITMQ_DIST_PORT: String(node.distributionPort),
    // Run once the node has booted: the HTTP client the auth backend asks through opens a
    // connection for a question rather than queue it behind another's (a refusal the platform
    // holds back, a message waiting for its device's rate), and keeps up to 256 of them open.
    // (RabbitMQ's script splits these arguments at spaces: the expression has none.)
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
      "-kernel inet_dist_use_interface {127,0,0,1} -eval httpc:set_options([{max_sessions,256},{max_keep_alive_length,0}])",
    ERL_EPMD_PORT: String(cluster.epmdPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
  };
}

/**
 * The node's configuration: loopback listeners, the HTTP auth backend only (`authUrl`: the
 * platform's hook, its path secret included), colons in MQTT usernames kept (a registered device's
 * username is "workspace:device", which the plugin would otherwise read as "vhost:user").
 */
function writeNodeConfig(cluster: RabbitClusterConfig, node: RabbitNode, authUrl: string): void {
  const dir = nodeDir(cluster, node);
  mkdirSync(join(dir, "log"), { recursive: true });
  // The first node is the seed: it lists no peer, so it forms the cluster at once, while the
  // others, started at the same time, keep asking it until it answers and then join it. (Nodes
  // that all list each other take a lock in turn, and the first to hold it waits for the others,
  // which wait for the lock, before it gives up and forms the cluster alone.)
  const seed = cluster.nodes[0];
  const discovery =
    node.name === seed.name
      ? []
      : [
          "cluster_formation.peer_discovery_backend = classic_config",
          `cluster_formation.classic_config.nodes.1 = ${seed.name}`,
          `cluster_formation.classic_config.nodes.2 = ${node.name}`,
          "cluster_formation.discovery_retry_limit = 240",
          "cluster_formation.discovery_retry_interval = 500",
        ];
  writeFileSync(
    join(dir, "rabbitmq.conf"),
    [
      `listeners.tcp.default = 127.0.0.1:${node.amqpPort}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${node.mqttPort}`,
      `management.tcp.ip = 127.0.0.1`,
      `management.tcp.port = ${node.managementPort}`,
      "mqtt.allow_anonymous = false",
      "mqtt.vhost = /",
      "mqtt.exchange = amq.topic",
      // The protocol's largest message (256 KiB) and its topic, and no more.
      "max_message_size = 266240",
      "loopback_users = none",
      // The management API lists connections from statistics this often: a revoked device's
      // connection is found (and closed) within a second of its login.
      "collect_statistics_interval = 500",
      "auth_backends.1 = http",
      "auth_http.http_method = post",
      ...["user", "vhost", "resource", "topic"].map((q) => `auth_http.${q}_path = ${authUrl}/${q}`),
      "auth_http.request_timeout = 15000",
      "auth_http.connection_timeout = 5000",
      ...discovery,
      "cluster_partition_handling = autoheal",
      "log.console = false",
      "log.file.level = warning",
      // An MQTT connection's Erlang processes keep the heap their login and subscription grew
      // until something collects it; RabbitMQ's background collector sweeps every process, at
      // most each 2 s and spending at most 1% of the time (rabbit's background_gc). Measured
      // with 1,000 subscribed sessions: 483 KB per connection without it, 359 KB with it
      // (bench/results/cluster.json).
      "background_gc_enabled = true",
      "background_gc_target_interval = 2000",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "advanced.config"), "[{rabbitmq_mqtt, [{ignore_colons_in_username, true}]}].\n");
  writeFileSync(join(dir, "enabled_plugins"), `[${PLUGINS.join(",")}].\n`);
  writeFileSync(join(dir, "rabbitmq-env.conf"), "");
}

/** Writes the cluster's cookie (once) and each node's configuration. */
export function configureRabbitCluster(cluster: RabbitClusterConfig, authUrls: string[]): void {
  checkInstalled();
  mkdirSync(cluster.dir, { recursive: true });
  const cookie = join(cluster.dir, ".erlang.cookie");
  if (!existsSync(cookie)) writeFileSync(cookie, randomBytes(24).toString("hex"), { mode: 0o400 });
  cluster.nodes.forEach((node, i) => writeNodeConfig(cluster, node, authUrls[i % authUrls.length]));
}

async function ctl(
  cluster: RabbitClusterConfig,
  node: RabbitNode,
  args: string[],
  timeoutMs = 120_000,
): Promise<string> {
  try {
    return (
      await run(join(SBIN, "rabbitmqctl"), ["-n", node.name, ...args], {
        env: nodeEnv(cluster, node),
        // Where Erlang leaves a crash dump, if it does.
        cwd: cluster.dir,
        timeout: timeoutMs,
        encoding: "utf8",
      })
    ).stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(
      `rabbitmqctl ${args[0]} on ${node.name}: ${(stderr || stdout || (error as Error).message).trim()}`,
      {
        cause: error,
      },
    );
  }
}

/** The pid of the node's Erlang VM, from the file it writes early in its boot. */
function vmPid(cluster: RabbitClusterConfig, node: RabbitNode): number | undefined {
  const file = join(nodeDir(cluster, node), "rabbitmq.pid");
  return existsSync(file) ? Number(readFileSync(file, "utf8").trim()) || undefined : undefined;
}

/** The node's processes that run now: its VM and the script that started it. */
function nodeProcesses(cluster: RabbitClusterConfig, node: RabbitNode): number[] {
  const mark = `RABBITMQ_BASE=${nodeDir(cluster, node)}`;
  return [vmPid(cluster, node), node.pid].filter((pid): pid is number => processOwns(pid, mark));
}

export function rabbitNodeRunning(cluster: RabbitClusterConfig, node: RabbitNode): boolean {
  return nodeProcesses(cluster, node).length > 0;
}

/**
 * Starts a node in the background (it outlives this process) and waits until it serves; one that
 * runs is only waited for. `started(pid)` hears of a new node's process at once, before the wait,
 * so that whoever records it can stop the node if the wait never ends.
 * Resolves true when this call started the node.
 */
export async function startRabbitNode(
  cluster: RabbitClusterConfig,
  node: RabbitNode,
  started: (pid: number) => void = () => undefined,
): Promise<boolean> {
  const dir = nodeDir(cluster, node);
  const running = rabbitNodeRunning(cluster, node);
  if (!running) {
    const output = join(dir, "log", "server.out");
    const out = openSync(output, "a");
    const child = spawn(join(SBIN, "rabbitmq-server"), [], {
      env: nodeEnv(cluster, node),
      cwd: dir,
      detached: true,
      stdio: ["ignore", out, out],
    });
    child.unref();
    closeSync(out);
    node.pid = child.pid;
    started(child.pid!);
  }
  try {
    // Waits for the pid file, then for the node to have started.
    await ctl(cluster, node, ["wait", join(dir, "rabbitmq.pid"), "--timeout", "120"], 130_000);
  } catch (error) {
    const log = join(dir, "log", `${node.name}.log`);
    const tail = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").slice(-8).join("\n") : "";
    throw new Error(`${(error as Error).message}\n${tail || `(see ${join(dir, "log", "server.out")})`}`, {
      cause: error,
    });
  }
  return !running;
}

/**
 * Stops a node, if it runs, as its service manager would (SIGTERM: the VM shuts down cleanly);
 * its queues' mirrors on the other nodes take over. Also a node still booting.
 */
export async function stopRabbitNode(cluster: RabbitClusterConfig, node: RabbitNode): Promise<void> {
  await stopProcesses(nodeProcesses(cluster, node), 60_000);
}

/** Stops the cluster's Erlang port mapper, once no node of it runs (the nodes' VMs start it, and leave it). */
export async function stopPortMapper(cluster: RabbitClusterConfig): Promise<void> {
  const env = { ...process.env, ERL_EPMD_PORT: String(cluster.epmdPort), ERL_EPMD_ADDRESS: "127.0.0.1" };
  await run("epmd", ["-kill"], { env, timeout: 10_000 }).catch(() => undefined);
}

/** The nodes the cluster runs on now, as `node` sees it. */
export async function runningNodes(cluster: RabbitClusterConfig, node: RabbitNode): Promise<string[]> {
  const status = JSON.parse(await ctl(cluster, node, ["cluster_status", "--formatter", "json"])) as {
    running_nodes: string[];
  };
  return status.running_nodes;
}
