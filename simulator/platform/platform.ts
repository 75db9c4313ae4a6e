/**
 * Starts the whole platform in this process: SQLite state in a data directory, the MQTT broker
 * and the technician's HTTP API. Used by `provisio platform`, the demo and the tests.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server as NetServer } from "node:net";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Broker, type Log } from "./broker";
import { createHttpApi } from "./http-api";
import { Operations } from "./operations";
import { ProvisioningTokens } from "./provisioning-tokens";
import { Registry } from "./registry";
import { openStore } from "./store";

export interface PlatformOptions {
  dataDir: string;
  /** 0 picks a free port. Default 1883. */
  mqttPort?: number;
  /** 0 picks a free port. Default 8080. */
  httpPort?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Wall-clock milliseconds; tests inject their own to expire things without waiting. */
  now?: () => number;
  log?: Log;
  /** How long a refreshed registration token's predecessor stays valid, in seconds. Default 300. */
  tokenGraceS?: number;
}

export interface RunningPlatform {
  mqttPort: number;
  httpPort: number;
  adminKey: string;
  close(): Promise<void>;
}

export const ADMIN_KEY_FILE = "admin.key";
const TOKEN_SECRET_FILE = "token-secret.key";

/** Reads a key file of the data directory, or creates it (mode 0600) with fresh random bytes. */
function keyFile(dataDir: string, name: string): string {
  const path = join(dataDir, name);
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(32).toString("base64url");
  writeFileSync(path, key + "\n", { mode: 0o600, flag: "wx" });
  return key;
}

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const host = options.host ?? "127.0.0.1";
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const adminKey = keyFile(options.dataDir, ADMIN_KEY_FILE);
  const tokenSecret = Buffer.from(keyFile(options.dataDir, TOKEN_SECRET_FILE), "base64url");
  const db = openStore(options.dataDir, now);

  const tokens = new ProvisioningTokens(db, now);
  const registry = new Registry(db, tokenSecret, now);
  let broker: Broker | undefined;
  const operations = new Operations({
    db,
    tokens,
    registry,
    now,
    push: (clientId, reply) => broker?.pushToProvisioningClient(clientId, reply),
  });
  broker = await Broker.create({ tokens, operations, registry, now, log, tokenGraceS: options.tokenGraceS });
  const mqttServer = createServer(broker.aedes.handle);
  const httpServer = createHttpApi({ adminKey, tokens, operations, registry, sessions: broker, log });
  try {
    const mqttPort = await listen(mqttServer, options.mqttPort ?? 1883, host);
    const httpPort = await listen(httpServer, options.httpPort ?? 8080, host);
    log(`platform: MQTT on ${host}:${mqttPort}, HTTP API on http://${host}:${httpPort}, data in ${options.dataDir}`);
    const running = broker;
    return {
      mqttPort,
      httpPort,
      adminKey,
      async close() {
        httpServer.closeAllConnections();
        await Promise.all([running.close(), closeServer(mqttServer), closeServer(httpServer)]);
        db.close();
      },
    };
  } catch (error) {
    await broker.close();
    mqttServer.close();
    httpServer.close();
    db.close();
    throw error;
  }
}
