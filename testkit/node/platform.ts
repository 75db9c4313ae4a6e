/**
 * Starts a real platform (aedes, SQLite or PostgreSQL, HTTP API) on free ports in a temporary data
 * directory, in a child process, for tests. The database is SQLite unless the test, or the
 * environment's PROVISIO_TEST_DATABASE=postgres (the jest project `postgres`), asks for
 * PostgreSQL: then a database of its own on the test process's server (test-postgres.ts), kept
 * with the data directory across a restart. Its clock is wall time plus an offset the test can advance.
 * With `tls`, the API is HTTPS and `api()` trusts the given CA, as the CLI does with --ca.
 *
 *   const platform = await startTestPlatform();
 *   const { body } = await platform.api("POST", "/api/tokens", {});   // body.token
 *   mqtt.connect(platform.mqttUrl, ...);
 *   await platform.stop();
 */
import { fork, type ChildProcess } from "node:child_process";
import { eventually } from "./eventually";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendApiRequest } from "../../simulator/cli/api-request";
import type { DeviceRateLimits } from "../../simulator/platform/device-rate";
import type { IngressLimits } from "../../simulator/platform/ingress";
import type { InitLimits } from "../../simulator/platform/operations";
import { openStore, type Db } from "../../simulator/platform/store";
import { clusterTestPlatform } from "./test-cluster";
import { testDatabase } from "./test-postgres";

export type TestDatabase = "sqlite" | "postgres";

/** What the tests run against when they do not say: the environment's choice, else SQLite. */
export const TEST_DATABASE: TestDatabase = process.env.PROVISIO_TEST_DATABASE === "postgres" ? "postgres" : "sqlite";

/** Where a data directory notes its PostgreSQL database, so a restarted platform finds it again. */
const DATABASE_URL_FILE = "test-database-url";

export interface TestPlatformOptions {
  /** Default TEST_DATABASE. */
  database?: TestDatabase;
  /** Share another test platform's PostgreSQL database (`databaseUrl`), as the workers of a cluster do. */
  databaseUrl?: string;
  /** Reuse a data directory (e.g. to restart a platform); default: a fresh temporary one. */
  dataDir?: string;
  /** Milliseconds added to wall time by the platform's clock from the start. */
  clockOffsetMs?: number;
  /** Print the platform's log lines on stderr. */
  log?: boolean;
  /**
   * Also listen for MQTT over TLS (on a free port), and serve the API over HTTPS only, with these
   * PEM files; `caFile` signed the certificate.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** Listen for plain MQTT; default true. */
  plain?: boolean;
  /** Default 127.0.0.1. */
  host?: string;
  allowPlainOnNetwork?: boolean;
  /**
   * Limits on starting provisioning operations. Default: the platform's, but 1000 a minute per
   * address, since tests provision hundreds of devices from 127.0.0.1.
   */
  initLimits?: Partial<InitLimits>;
  /** Most bytes of messages kept per device. */
  quotaBytesPerDevice?: number;
  /** How fast one device's messages are taken. */
  deviceRate?: Partial<DeviceRateLimits>;
  /** The plain MQTT port; default 0, a free one. */
  mqttPort?: number;
  /** The broker's bounds on what connections send (BrokerOptions.ingress). */
  ingress?: Partial<IngressLimits>;
}

export interface ApiResult {
  status: number;
  body: any;
}

export interface TestPlatform {
  dataDir: string;
  database: TestDatabase;
  /** Its PostgreSQL database; undefined on SQLite. */
  databaseUrl: string | undefined;
  /** Opens the platform's database beside it, for a test to look inside; the caller closes it. */
  openDatabase(): Promise<Db>;
  /** The platform's process. */
  pid: number;
  /** The plain MQTT port (0 when plain TCP is off). */
  mqttPort: number;
  /** The MQTT-over-TLS port (0 without `tls`). */
  mqttsPort: number;
  httpPort: number;
  mqttUrl: string;
  /** The API's base URL: https://127.0.0.1:PORT with `tls`, else http://. */
  apiUrl: string;
  adminKey: string;
  /** The platform's log lines so far. */
  logLines(): string[];
  /** Resolves with the first log line matching `pattern`, past or within `timeoutMs` (they arrive by IPC). */
  logged(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Current offset of the platform clock from wall time. */
  clockOffsetMs: number;
  /** Moves the platform's clock forward by `ms`. */
  advanceClock(ms: number): Promise<void>;
  /** Calls the HTTP API with the admin key (over HTTPS with `tls`, trusting its `caFile` only). */
  api(method: string, path: string, body?: unknown): Promise<ApiResult>;
  /** Shuts the platform down cleanly; removes the data directory unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

type ChildMessage = {
  ready?: { mqttPort?: number; mqttsPort?: number; httpPort: number; apiUrl: string; adminKey: string };
  advanced?: number;
  error?: string;
  log?: string;
};

/**
 * How long a test platform may take to start or to stop: about a second each, measured; a wide
 * margin for a busy machine. Past it the wait fails, saying what it waited for, rather than hang
 * until the test's own timeout.
 */
const PLATFORM_WAIT_MS = 45_000;

function nextMessage(child: ChildProcess, accept: (m: ChildMessage) => boolean, what: string): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: ChildMessage) => {
      if (m.error) return done(() => reject(new Error(`platform failed: ${m.error}`)));
      if (accept(m)) done(() => resolve(m));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`platform exited with code ${code}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`platform (pid ${child.pid}): no ${what} within ${PLATFORM_WAIT_MS} ms`))),
      PLATFORM_WAIT_MS,
    );
    const done = (then: () => void) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      then();
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/**
 * Which platform the suite runs against: the embedded one (a process of its own), or with
 * PROVISIO_TEST_MODE=cluster (the jest project `cluster`) the cluster mode (test-cluster.ts).
 */
export const TEST_MODE: "embedded" | "cluster" = process.env.PROVISIO_TEST_MODE === "cluster" ? "cluster" : "embedded";

/**
 * The CONNACK code of a login refused for being not allowed (rather than not known): 5, but RabbitMQ
 * answers every refused password with 4 (docs/protocol.md, section 4).
 */
export const NOT_AUTHORIZED_CODE = TEST_MODE === "cluster" ? 4 : 5;

/**
 * The messages the API lists for `query` once there are `count` of them. Embedded, a PUBACK comes
 * after the commit; through a clustered broker, once the message is in its durable queue, and in
 * the database a moment later (docs/protocol.md 4): this waits for that moment.
 */
export async function storedMessages(platform: TestPlatform, query: string, count: number): Promise<any[]> {
  let messages: any[] = [];
  await eventually(
    async () => (messages = (await platform.api("GET", `/api/messages?${query}`)).body.messages).length >= count,
    `${count} messages stored for ${query}`,
  );
  return messages;
}

/**
 * A test of what only the embedded platform does (each use says why); skipped in the cluster mode.
 * Looks jest's `test` up when called, so that the benches can import this module outside jest.
 */
export function embeddedOnly(name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  (TEST_MODE === "cluster" ? test.skip : test)(name, fn, timeout);
}

export async function startTestPlatform(options: TestPlatformOptions = {}): Promise<TestPlatform> {
  if (TEST_MODE === "cluster") return clusterTestPlatform(options);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "provisio-test-"));
  const database = options.databaseUrl ? "postgres" : (options.database ?? TEST_DATABASE);
  const urlFile = join(dataDir, DATABASE_URL_FILE);
  let databaseUrl: string | undefined;
  if (database === "postgres") {
    databaseUrl = options.databaseUrl ?? (existsSync(urlFile) ? readFileSync(urlFile, "utf8") : await testDatabase());
    writeFileSync(urlFile, databaseUrl, { mode: 0o600 });
  }
  let clockOffsetMs = options.clockOffsetMs ?? 0;
  const child = fork(join(__dirname, "platform-process.ts"), [], {
    execArgv: ["--import", "tsx"],
    env: {
      ...process.env,
      PROVISIO_TEST_DATA: dataDir,
      PROVISIO_TEST_DATABASE_URL: databaseUrl ?? "",
      PROVISIO_TEST_CLOCK_OFFSET: String(clockOffsetMs),
      PROVISIO_TEST_LOG: options.log ? "1" : "",
      PROVISIO_TEST_LISTENERS: JSON.stringify({
        tls: options.tls,
        plain: options.plain,
        host: options.host,
        allowPlainOnNetwork: options.allowPlainOnNetwork,
        ingress: options.ingress,
        mqttPort: options.mqttPort,
        quotaBytesPerDevice: options.quotaBytesPerDevice,
        deviceRate: options.deviceRate,
        initLimits: options.initLimits ?? { perAddress: { limit: 1000, windowMs: 60_000 } },
      }),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const logLines: string[] = [];
  child.on("message", (m: ChildMessage) => {
    if (m.log !== undefined) logLines.push(m.log);
  });
  // Never keep the test runner alive: the child exits when its IPC channel closes.
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  let ready: ChildMessage["ready"];
  try {
    ({ ready } = await nextMessage(child, (m) => m.ready !== undefined, "ready message"));
  } catch (error) {
    child.kill("SIGKILL");
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const apiUrl = ready!.apiUrl;
  const ca = options.tls && readFileSync(options.tls.caFile);
  const platform: TestPlatform = {
    dataDir,
    database,
    databaseUrl,
    openDatabase: () => openStore(databaseUrl === undefined ? { dataDir } : { url: databaseUrl }, Date.now),
    pid: child.pid!,
    mqttPort: ready!.mqttPort ?? 0,
    mqttsPort: ready!.mqttsPort ?? 0,
    httpPort: ready!.httpPort,
    mqttUrl: `mqtt://127.0.0.1:${ready!.mqttPort}`,
    apiUrl,
    adminKey: ready!.adminKey,
    logLines: () => [...logLines],
    async logged(pattern, timeoutMs = 5000) {
      await eventually(() => logLines.some((line) => pattern.test(line)), `a log line matching ${pattern}`, {
        timeoutMs,
        detail: () => `log:\n${logLines.join("\n")}`,
      });
      return logLines.find((line) => pattern.test(line))!;
    },
    get clockOffsetMs() {
      return clockOffsetMs;
    },
    async advanceClock(ms) {
      const reply = nextMessage(child, (m) => m.advanced !== undefined, "clock advanced");
      child.send({ advance: ms });
      clockOffsetMs = (await reply).advanced!;
    },
    async api(method, path, body) {
      const response = await sendApiRequest(apiUrl + path, { method, adminKey: ready!.adminKey, body, ca });
      return { status: response.status, body: JSON.parse(response.text) };
    },
    async stop(stopOptions = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.send({ close: true });
        let stuck = false;
        const timer = setTimeout(() => (stuck = child.kill("SIGKILL")), PLATFORM_WAIT_MS);
        await exited;
        clearTimeout(timer);
        if (stuck) throw new Error(`platform (pid ${child.pid}) did not stop within ${PLATFORM_WAIT_MS} ms: killed`);
      }
      if (!stopOptions.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return platform;
}
