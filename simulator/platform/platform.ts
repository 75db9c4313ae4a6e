/**
 * Starts the whole platform in this process: its state (SQLite in the data directory, or a
 * PostgreSQL database), the MQTT broker and the technician's HTTP API (HTTPS when the platform has
 * a certificate). Used by `provisio platform`, the demo and the tests.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, isIPv4, isIPv6, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { join } from "node:path";
import { moddableChainProblem } from "../certs/served-chain";
import { processAlive } from "../process-alive";
import type { DeviceRateLimits } from "./device-rate";
import { DEFAULT_INGRESS_LIMITS, type IngressLimits } from "./ingress";
import { MessageWriter, databaseStore, sqliteThreadStore } from "./message-writer";
import { DEFAULT_QUOTA_BYTES_PER_DEVICE } from "./message-batch";
import { redacted, relayEvents, sharedSecret } from "./postgres-store";
import { Broker, type LogLine } from "./broker";
import { ControlRequests } from "./control-requests";
import { BrokerAdmin } from "./cluster/broker-admin";
import { BrokerAuth, WORKER_USER, brokerSecrets } from "./cluster/broker-auth";
import { RabbitBroker } from "./cluster/rabbitmq-broker";
import { ADMIN_KEY_FILE } from "./data-files";
import { PlatformEvents } from "./events";
import { createHttpApi, type HttpApiOptions } from "./http-api";
import { Operations, type InitLimits } from "./operations";
import { ProvisioningTokens } from "./provisioning-tokens";
import { Registry } from "./registry";
import { openStore, type Db } from "./store";
import { sqliteFile } from "./sqlite-store";

export interface PlatformTlsOptions {
  /** The server's certificate chain and private key, PEM. */
  cert: string | Buffer;
  key: string | Buffer;
  /** 0 picks a free port. Default 8883. */
  port?: number;
}

export interface PlatformOptions {
  /** Where the SQLite database and the keys are, or (with `database`) this process's lock and admin key file. */
  dataDir: string;
  /**
   * A PostgreSQL URL (postgres://…): the state, and the keys every worker shares, live there
   * instead of in the data directory.
   */
  database?: string;
  /** Plain MQTT over TCP; 0 picks a free port. Default 1883. */
  mqttPort?: number;
  /**
   * MQTT over TLS, beside plain TCP (or instead of it, with `plain: false`); the HTTP API is then
   * HTTPS only, with the same certificate.
   */
  tls?: PlatformTlsOptions;
  /** Whether to listen for plain MQTT over TCP. Default true. */
  plain?: boolean;
  /**
   * Plain MQTT carries every token readably, and the HTTP API without `tls` the admin key, so
   * either is refused on a non-loopback `host` unless this is true.
   */
  allowPlainOnNetwork?: boolean;
  /** The HTTP API's port, HTTPS with `tls`; 0 picks a free port. Default 8080. */
  httpPort?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Wall-clock milliseconds; tests inject their own to expire things without waiting. */
  now?: () => number;
  log?: LogLine;
  /** How long a refreshed registration token's predecessor stays valid, in seconds. Default 300. */
  tokenGraceS?: number;
  /** Bounds on what an MQTT connection may send and how many one address holds (see ingress.ts). */
  ingress?: Partial<IngressLimits>;
  /** How fast one device's messages are taken (see device-rate.ts). */
  deviceRate?: Partial<DeviceRateLimits>;
  /** Most bytes of messages kept per device, its oldest dropped first. Default 256 MiB. */
  quotaBytesPerDevice?: number;
  /** Limits on starting provisioning operations (see operations.ts). */
  initLimits?: Partial<InitLimits>;
  /** How long ended operations are kept. Default 30 days. */
  operationRetentionMs?: number;
  /**
   * Cluster mode: devices connect to a RabbitMQ cluster, which asks this worker's HTTP API who may
   * do what (its auth hook); this worker serves requests and stores messages as an AMQP client of
   * it. Needs `database`. The MQTT listener options do not apply.
   */
  rabbitmq?: {
    /** amqp://HOST:PORT of the nodes, tried in turn. */
    urls: string[];
    /** http://HOST:PORT of a node's management API. */
    adminUrl: string;
  };
}

/** What the platform asks of whichever broker the devices connect to. */
type DeviceBroker = Pick<
  Broker,
  "pushToProvisioningClient" | "isConnected" | "closeDevice" | "closeProvisioningToken" | "close"
>;

const DEFAULT_OPERATION_RETENTION_MS = 30 * 24 * 3600_000;
const PRUNE_INTERVAL_MS = 3600_000;
const EXPIRY_SWEEP_INTERVAL_MS = 5000;

export interface RunningPlatform {
  /** The plain MQTT port; undefined when plain TCP is off. */
  mqttPort: number | undefined;
  /** The MQTT-over-TLS port; undefined without `tls`. */
  mqttsPort: number | undefined;
  httpPort: number;
  /** The HTTP API's base URL without a trailing slash: https://… with `tls`, else http://…. */
  apiUrl: string;
  adminKey: string;
  close(): Promise<void>;
}

const TOKEN_SECRET_FILE = "token-secret.key";

const newKey = () => randomBytes(32).toString("base64url");

/** Reads a key file of the data directory, or creates it (mode 0600) with fresh random bytes. */
function keyFile(dataDir: string, name: string): string {
  const path = join(dataDir, name);
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = newKey();
  writeFileSync(path, key + "\n", { mode: 0o600, flag: "wx" });
  return key;
}

/**
 * The admin key and the secret that seals registration tokens: files of the data directory, or
 * with PostgreSQL rows every worker reads (the admin key is also written to this worker's data
 * directory, where the CLI's --data looks for it).
 */
async function platformKeys(db: Db, dataDir: string): Promise<{ adminKey: string; tokenSecret: Buffer }> {
  if (db.engine === "sqlite")
    return {
      adminKey: keyFile(dataDir, ADMIN_KEY_FILE),
      tokenSecret: Buffer.from(keyFile(dataDir, TOKEN_SECRET_FILE), "base64url"),
    };
  const adminKey = await sharedSecret(db, ADMIN_KEY_FILE, newKey);
  writeFileSync(join(dataDir, ADMIN_KEY_FILE), adminKey + "\n", { mode: 0o600 });
  return { adminKey, tokenSecret: Buffer.from(await sharedSecret(db, TOKEN_SECRET_FILE, newKey), "base64url") };
}

/**
 * The TLS listeners' settings (MQTT and the HTTPS API): TLS 1.2 at least, since Moddable's
 * securesocket stops at 1.2, whose only suites there are ECDHE-ECDSA on P-256 (Node's default
 * cipher list and curves include it).
 */
export function tlsServerOptions(tls: PlatformTlsOptions): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: "TLSv1.2",
    ecdhCurve: "X25519:P-256:P-384",
    handshakeTimeout: 10_000,
  };
}

/** 127.0.0.0/8, ::1 and localhost: where plain TCP never leaves the machine. */
function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIPv4(host) && host.startsWith("127.");
}

/**
 * Why listening on `host` would carry secrets readably over the network, or undefined when it
 * would not: plain MQTT sends every token in CONNECT, the HTTP API without TLS the admin key.
 * The caller adds how to fix it in its own terms (options or command-line flags).
 */
export function plainOnNetwork(
  options: Pick<PlatformOptions, "host" | "plain" | "tls" | "allowPlainOnNetwork">,
): string | undefined {
  const host = options.host ?? "127.0.0.1";
  if (isLoopback(host) || options.allowPlainOnNetwork) return undefined;
  const plainMqtt = options.plain ?? true;
  if (!plainMqtt && options.tls) return undefined;
  const what = [plainMqtt ? "plain MQTT over TCP" : "", options.tls ? "" : "the HTTP API without TLS"]
    .filter(Boolean)
    .join(" and ");
  const secrets = [plainMqtt ? "every token" : "", options.tls ? "" : "the admin key"].filter(Boolean).join(" and ");
  return `${what} on ${host} would send ${secrets} readably over the network`;
}

const LOCK_FILE = "platform.lock";

/**
 * Takes the data directory for this process: two platforms on one SQLite file and one admin key
 * would each believe their in-memory state (rate limits, live sessions) is the whole truth. The
 * lock file holds the owner's pid; one left by a process that is gone (kill -9) is taken over.
 * Returns the release.
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  for (;;) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number(readFileSync(path, "utf8").trim());
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner))
      throw new Error(
        `the data directory ${dataDir} is in use by another platform (pid ${owner}): stop it, or give another --data`,
      );
    rmSync(path, { force: true });
  }
}

/** The API's base URL; an unspecified address (0.0.0.0, ::) is reached through loopback. */
function apiUrl(scheme: "http" | "https", host: string, port: number): string {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `${scheme}://${isIPv6(reachable) ? `[${reachable}]` : reachable}:${port}`;
}

/** Listens; a taken port fails with a message that says which listener and what to do. */
function listen(server: NetServer, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(
              `the ${what} port ${port} on ${host} is already in use (another platform, or another server): choose another, or 0 for a free one`,
            )
          : error,
      ),
    );
    server.listen(port, host, () => {
      server.removeAllListeners("error");
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const host = options.host ?? "127.0.0.1";
  const plain = options.plain ?? true;
  if (!plain && !options.tls && !options.rabbitmq)
    throw new Error("no MQTT listener: plain TCP is off and no TLS certificate was given");
  if (options.rabbitmq && options.database === undefined)
    throw new Error("the cluster mode keeps its state in PostgreSQL, which every worker shares: give a database URL");
  const refusal = plainOnNetwork(options);
  if (refusal)
    throw new Error(`${refusal}: listen on a loopback address, use TLS with plain TCP off, or allow it explicitly`);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(options.dataDir);
  let db: Db;
  let keys: Awaited<ReturnType<typeof platformKeys>>;
  try {
    db = await openStore(
      options.database === undefined ? { dataDir: options.dataDir } : { url: options.database },
      now,
    );
    keys = await platformKeys(db, options.dataDir).catch(async (error: unknown) => {
      await db.close();
      throw error;
    });
  } catch (error) {
    unlock();
    throw error;
  }
  const { adminKey, tokenSecret } = keys;
  const chainProblem = options.tls && moddableChainProblem(options.tls.cert);
  if (chainProblem) log(`platform: warning: ${chainProblem}`);

  const tokens = new ProvisioningTokens(db, now);
  const registry = new Registry(db, tokenSecret, now);
  const events = new PlatformEvents(now);
  // With PostgreSQL, every worker's event streams show what all of them do.
  const stopRelay =
    options.database === undefined
      ? undefined
      : await relayEvents(db, options.database, events, log).catch(async (error: unknown) => {
          await db.close();
          unlock();
          throw error;
        });
  let devices: DeviceBroker | undefined;
  const operations = new Operations({
    db,
    tokens,
    registry,
    now,
    events,
    push: (clientId, reply) => devices?.pushToProvisioningClient(clientId, reply),
    initLimits: options.initLimits,
  });
  const quota = options.quotaBytesPerDevice ?? DEFAULT_QUOTA_BYTES_PER_DEVICE;
  const requests = new ControlRequests({ operations, registry, now, log, tokenGraceS: options.tokenGraceS });
  const mqttServers: { server: NetServer; port: number; what: string }[] = [];
  let writer: MessageWriter | undefined;
  let brokerAuth: { secret: string; auth: BrokerAuth } | undefined;
  let startDevices: (() => Promise<DeviceBroker>) | undefined;
  const rabbitmq = options.rabbitmq;
  if (rabbitmq) {
    const { workerPassword, authPathSecret } = await brokerSecrets(db);
    const auth = new BrokerAuth({
      db,
      tokens,
      registry,
      operations,
      now,
      log,
      workerPassword,
      deviceRate: options.deviceRate,
      connectionsPerAddress: options.ingress?.connectionsPerAddress ?? DEFAULT_INGRESS_LIMITS.connectionsPerAddress,
    });
    brokerAuth = { secret: authPathSecret, auth };
    const admin = new BrokerAdmin({ url: rabbitmq.adminUrl, username: WORKER_USER, password: workerPassword });
    // Started once the API listens: the broker asks it who the worker itself is.
    startDevices = () =>
      RabbitBroker.start({
        urls: rabbitmq.urls,
        workerPassword,
        admin,
        auth,
        db,
        registry,
        requests,
        now,
        log,
        quotaBytesPerDevice: quota,
        deviceRate: options.deviceRate,
      });
  } else {
    const messageWriter = new MessageWriter({
      store: db.engine === "sqlite" ? sqliteThreadStore(sqliteFile(options.dataDir), quota) : databaseStore(db, quota),
    });
    writer = messageWriter;
    const broker = await Broker.create({
      tokens,
      operations,
      registry,
      now,
      log,
      events,
      writer: messageWriter,
      requests,
      ingress: options.ingress,
      deviceRate: options.deviceRate,
    });
    devices = broker;
    const serve = (socket: Socket) => broker.handle(socket);
    if (plain) mqttServers.push({ server: createServer(serve), port: options.mqttPort ?? 1883, what: "MQTT" });
    if (options.tls)
      mqttServers.push({
        server: createTlsServer(tlsServerOptions(options.tls), serve),
        port: options.tls.port ?? 8883,
        what: "MQTT-over-TLS",
      });
  }
  const sessions: HttpApiOptions["sessions"] = {
    closeDevice: (workspaceId, deviceId) => devices?.closeDevice(workspaceId, deviceId),
    closeProvisioningToken: (id) => devices?.closeProvisioningToken(id),
    isConnected: (workspaceId, deviceId) => devices?.isConnected(workspaceId, deviceId) ?? false,
  };
  const httpServer = await createHttpApi({
    adminKey,
    now,
    tokens,
    operations,
    registry,
    db,
    sessions,
    events,
    log,
    tls: options.tls && tlsServerOptions(options.tls),
    brokerAuth,
  });
  try {
    const ports: number[] = [];
    for (const { server, port, what } of mqttServers) ports.push(await listen(server, port, host, what));
    const mqttPort = plain && !options.rabbitmq ? ports[0] : undefined;
    const mqttsPort = options.tls && !options.rabbitmq ? ports[ports.length - 1] : undefined;
    const httpPort = await listen(httpServer, options.httpPort ?? 8080, host, "HTTP API");
    if (startDevices) devices = await startDevices();
    const url = apiUrl(options.tls ? "https" : "http", host, httpPort);
    const listeners = [
      mqttPort === undefined ? "" : `MQTT on ${host}:${mqttPort}`,
      mqttsPort === undefined ? "" : `MQTT over TLS on ${host}:${mqttsPort}`,
      options.rabbitmq ? `devices through RabbitMQ at ${options.rabbitmq.urls.join(" ")}` : "",
    ];
    const state =
      options.database === undefined ? `data in ${options.dataDir}` : `state in ${redacted(options.database)}`;
    log(`platform: ${listeners.filter(Boolean).join(", ")}, HTTP API on ${url}, ${state}`);
    const background = (what: string, work: () => Promise<unknown>) => () =>
      void work().catch((error: Error) => log(`platform: ${what} failed, tried again later: ${error.message}`));
    const prune = background("pruning operations", async () => {
      const pruned = await operations.prune(options.operationRetentionMs ?? DEFAULT_OPERATION_RETENTION_MS);
      if (pruned) log(`platform: deleted ${pruned} operations that ended over the retention period ago`);
    });
    prune();
    const pruner = setInterval(prune, PRUNE_INTERVAL_MS);
    pruner.unref();
    // Expiry is otherwise written when an operation is next touched: this announces it on time.
    const expirer = setInterval(
      background("expiring operations", () => operations.expireDue()),
      EXPIRY_SWEEP_INTERVAL_MS,
    );
    expirer.unref();
    return {
      mqttPort,
      mqttsPort,
      httpPort,
      apiUrl: url,
      adminKey,
      async close() {
        clearInterval(pruner);
        clearInterval(expirer);
        httpServer.closeAllConnections();
        await Promise.all([
          devices?.close(),
          ...mqttServers.map(({ server }) => closeServer(server)),
          closeServer(httpServer),
        ]);
        await writer?.close();
        await stopRelay?.();
        await db.close();
        unlock();
      },
    };
  } catch (error) {
    await devices?.close();
    for (const { server } of mqttServers) server.close();
    httpServer.close();
    await writer?.close();
    await stopRelay?.();
    await db.close();
    unlock();
    throw error;
  }
}
