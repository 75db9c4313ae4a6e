/**
 * Example firmware: provisions the board on first boot (the verification code goes to `trace`; a
 * board with a screen would show it there), then sends a sensor-like reading every minute. The
 * readings wait in a queue (a flash partition of their own with `queuePartition`, else RAM) while
 * the device is offline or not yet registered, and go out in order once it is.
 *
 * The provisioning token and Device ID come from the device's preferences (domain "provisio",
 * keys "token" and "deviceId") when present, written at the factory (see README), before
 * manifest.json's config: one firmware build serves devices with tokens of their own.
 *
 * Wi-Fi: manifest_net.json's setup module joins the network named by `ssid`/`password` (mcconfig
 * arguments) before Moddable calls main(), so the hardware RNG is already truly random here.
 * With TLS (`caCertificate` names a DER resource) the certificate dates are checked against
 * Date.now(), so the clock is set by SNTP first.
 */
import config from "mc/config";
import { DeviceClient, utf8Encode, type DeviceClientState, type OperationDisplay } from "provisio-sdk";
import { guarded, hostRandom, moddableClock, ModdableTransport, SocketLifetime, TraceLog } from "provisio-moddable";
import { createQueue, createStore } from "provisio-platform";
import Preference from "preference";
import Resource from "Resource";
import SNTP from "sntp";
import Time from "time";
import Timer from "timer";

/** The `config` section of manifest.json (every value can be overridden on mcconfig's command line). */
interface AppConfig {
  brokerHost: string;
  brokerPort: number;
  provisioningToken: string;
  deviceId?: string;
  /** Name of a DER CA certificate resource; TLS when set. */
  caCertificate?: string;
  sntp?: string;
  storePartition?: string;
  queuePartition?: string;
  stream: string;
  sendIntervalMs: number;
  /** Wait before starting again after a failure the client does not retry by itself. */
  restartDelayMs: number;
}

/** SNTP is asked again after a failure, waiting this long at first and twice as long each time after. */
const sntpRetryMs = 10_000;
const sntpMaxRetryMs = 300_000;

/** The preference domain of what a factory writes for one device. */
const factoryDomain = "provisio";

/** A string the factory wrote into the device's preferences, if any. */
function factoryValue(key: string): string | undefined {
  const value = Preference.get(factoryDomain, key);
  return typeof value === "string" && value !== "" ? value : undefined;
}

function readConfig(): AppConfig {
  const text = (name: string) => (typeof config[name] === "string" && config[name] !== "" ? config[name] : undefined);
  const number = (name: string, fallback: number) => {
    const value = Number(config[name]);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  };
  return {
    brokerHost: text("brokerHost") ?? "192.168.1.10",
    brokerPort: number("brokerPort", 1883),
    provisioningToken: factoryValue("token") ?? text("provisioningToken") ?? "",
    deviceId: factoryValue("deviceId") ?? text("deviceId"),
    caCertificate: text("caCertificate"),
    sntp: text("sntp"),
    storePartition: text("storePartition"),
    queuePartition: text("queuePartition"),
    stream: text("stream") ?? "telemetry",
    sendIntervalMs: number("sendIntervalMs", 60_000),
    restartDelayMs: number("restartDelayMs", 600_000),
  };
}

/** Shows the code to compare; without a configured Device ID, says that the technician gives one. */
function showCode(operation: OperationDisplay, deviceId: string | undefined): void {
  trace(
    `\n  verification code ${operation.verificationCode}\n  (operation ${operation.operationId}, valid ${operation.expiresIn} s)\n\n`,
  );
  if (!deviceId)
    trace(
      "no deviceId configured: the technician gives one when approving (provisio ops approve CODE --device-id ID)\n",
    );
}

/**
 * Sets the clock by SNTP, then calls `then`. Moddable's client gives up after its own retries and
 * always asks UDP port 123, so a failure is retried here with a growing wait. The client closes
 * its socket itself, inside that socket's callback when the time comes: it stays referenced until
 * a later turn, and the next socket waits for it to drain (socket-lifetime.ts).
 */
function waitForTime(host: string, sockets: SocketLifetime, then: () => void, retryMs = sntpRetryMs): void {
  trace(`waiting for the time from ${host} (SNTP): TLS checks certificate dates\n`);
  let client: SNTP | undefined;
  const next = (run: () => void) => {
    sockets.closed();
    Timer.set(() => {
      client = undefined;
      guarded("sntp", run);
    }, 0);
  };
  sockets.afterDrain(() =>
    guarded("sntp", () => {
      client = new SNTP({ host }, (message, value) =>
        guarded("sntp", () => {
          if (!client) return;
          if (message === SNTP.time) {
            Time.set(value!);
            next(then);
          } else if (message === SNTP.error) {
            trace(
              `warn sntp-failed host=${host}: TLS cannot check certificate dates yet, asking again in ${retryMs / 1000} s\n`,
            );
            next(() =>
              Timer.set(
                () => guarded("sntp", () => waitForTime(host, sockets, then, Math.min(retryMs * 2, sntpMaxRetryMs))),
                retryMs,
              ),
            );
          }
        }),
      );
    }),
  );
}

function startClient(settings: AppConfig, sockets: SocketLifetime): void {
  const log = new TraceLog();
  let sequence = 0;
  let readings: Timer | undefined;
  // Readings are taken once the client has started: one that could not (no device key) has said
  // why, and is tried again after restartDelayMs, rather than queueing readings nobody will send.
  const begin = () => {
    client.start();
    if (client.state === "failed") return;
    readings ??= Timer.repeat(
      () =>
        guarded("send", () => {
          const reading = { seq: ++sequence, temperatureC: 20 + (sequence % 50) / 10 };
          client.send(settings.stream, utf8Encode(JSON.stringify(reading))).then(
            () => trace(`sent reading ${reading.seq}\n`),
            (error: Error) => trace(`reading ${reading.seq} not sent: ${error.message}\n`),
          );
        }),
      settings.sendIntervalMs,
    );
  };
  const client: DeviceClient = new DeviceClient({
    provisioningToken: settings.provisioningToken,
    deviceId: settings.deviceId,
    attributes: { model: "esp32", firmware: "0.1.0" },
    transport: new ModdableTransport({
      host: settings.brokerHost,
      port: settings.brokerPort,
      certificate: settings.caCertificate ? new Resource(settings.caCertificate) : undefined,
      sockets,
    }),
    clock: moddableClock,
    random: hostRandom,
    log,
    store: createStore({ partition: settings.storePartition, log }),
    // A device offline for long keeps its newest readings.
    queue: createQueue({ partition: settings.queuePartition, whenFull: "drop-oldest", log }),
    onDisplay: (operation) => showCode(operation, settings.deviceId),
    onStateChange(state: DeviceClientState, detail?: string, retryInMs?: number) {
      if (state === "failed") {
        trace(`error device-failed detail=${detail}: starting again in ${settings.restartDelayMs / 1000} s\n`);
        Timer.set(() => guarded("restart", begin), settings.restartDelayMs);
      } else if (state === "connected") trace(`registered as ${client.workspaceId}:${client.deviceId}\n`);
      // The client logs each change of state ("device-state", with its detail); this says when it tries again.
      if (retryInMs !== undefined) log.write("warn", "connect-failed", { state, reason: detail, retryInMs });
    },
  });
  begin();
}

export default function main(): void {
  guarded("main", () => {
    const settings = readConfig();
    if (!settings.provisioningToken)
      return trace(`error no provisioning token: neither in preferences (${factoryDomain}/token) nor in mc/config\n`);
    const sockets = new SocketLifetime();
    if (settings.caCertificate)
      waitForTime(settings.sntp ?? "pool.ntp.org", sockets, () => startClient(settings, sockets));
    else startClient(settings, sockets);
  });
}
