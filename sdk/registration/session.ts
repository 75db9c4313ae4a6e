/**
 * The registered session of PROTOCOL 2: a persistent MQTT session under the device's own name,
 * messages to its streams, and the token status asked after every connect. Token refresh and
 * the reaction to revocation build on `tokenStatus` and `onRejected`.
 */
import type { Registration } from "../identity";
import { MqttClient, type MqttClientState } from "../mqtt/client";
import { silentLog, type Clock, type Log, type Random, type Transport } from "../ports";
import { utf8Encode } from "../utf8";
import { encodeJson, numberField, parseJsonObject } from "../provisioning/json";

const streamPattern = /^[0-9A-Za-z_.-]{1,64}$/;
/** PROTOCOL 2a: the platform's default message size limit. */
export const maxMessageBytes = 256 * 1024;

export function isStreamName(value: unknown): value is string {
  return typeof value === "string" && streamPattern.test(value);
}

export class RegistrationError extends Error {
  readonly code: "invalid-stream" | "message-too-large" | "registration-rejected";
  constructor(code: RegistrationError["code"], message: string) {
    super(message);
    this.name = "RegistrationError";
    this.code = code;
  }
}

export interface RegisteredSessionOptions {
  transport: Transport;
  clock: Clock;
  random: Random;
  log?: Log;
  registration: Registration;
  /** Session MQTT state: "connected" once CONNACK arrived. */
  onStateChange?(state: MqttClientState): void;
  /** The platform answered the status request: the token lives `expiresIn` more seconds. */
  onTokenStatus?(expiresIn: number): void;
  /** CONNACK 4/5: the token is expired or revoked, or the device was deleted. The session has stopped. */
  onRejected(error: RegistrationError): void;
}

export class RegisteredSession {
  /** "ws/{workspaceId}/dev/{deviceId}", the root of every topic of this device. */
  readonly root: string;
  /** The last status reply: `expiresIn` seconds as of tick `receivedAt` (30 days outrun the 32-bit tick range). */
  tokenStatus: { expiresIn: number; receivedAt: number } | undefined;
  #options: RegisteredSessionOptions;
  #log: Log;
  #client: MqttClient;
  #statusRid = "";
  #lastRid = 0;

  constructor(options: RegisteredSessionOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLog;
    const { workspaceId, deviceId, token } = options.registration;
    this.root = `ws/${workspaceId}/dev/${deviceId}`;
    const name = `${workspaceId}:${deviceId}`;
    this.#client = new MqttClient({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      clientId: name,
      username: name,
      password: utf8Encode(token),
      clean: false,
      keepalive: 60,
      onStateChange: (state) => options.onStateChange?.(state),
      onConnect: () => this.#connected(),
      onMessage: (topic, payload) => this.#receive(topic, payload),
      onStop: (error) => {
        if (!error) return;
        this.#log.write("error", "registration-rejected", { reason: error.message });
        options.onRejected(new RegistrationError("registration-rejected", `the platform refused the registration token: ${error.message}`));
      },
    });
  }

  get state(): MqttClientState {
    return this.#client.state;
  }

  start(): void {
    this.#client.start();
  }

  stop(): void {
    this.#client.stop();
  }

  /** Publishes `payload` to the stream with QoS 1; `callback` runs once the platform has stored it (PUBACK). */
  send(stream: string, payload: Uint8Array, callback: (error: Error | undefined) => void): void {
    if (!isStreamName(stream)) callback(new RegistrationError("invalid-stream", "a stream name is 1-64 characters of 0-9 A-Z a-z _ . -"));
    else if (payload.length > maxMessageBytes) callback(new RegistrationError("message-too-large", `a message is at most ${maxMessageBytes} bytes`));
    else this.#client.publish(`${this.root}/msg/${stream}`, payload, { qos: 1 }, callback);
  }

  #connected(): void {
    const topics = [`${this.root}/res/+`, `${this.root}/cmd/#`];
    this.#client.subscribe(topics.map((topic) => ({ topic, qos: 1 })), (error, granted) => {
      if (error) return;
      if (granted?.includes(0x80)) this.#log.write("warn", "subscribe-refused", {});
      this.#statusRid = String((this.#lastRid = (this.#lastRid % 999999999) + 1));
      this.#client.publish(`${this.root}/req/token`, encodeJson({ v: 1, rid: this.#statusRid, op: "status" }), { qos: 1 });
    });
  }

  #receive(topic: string, payload: Uint8Array): void {
    if (topic !== `${this.root}/res/token`) {
      this.#log.write("debug", "message-ignored", { topic });
      return;
    }
    const reply = parseJsonObject(payload, ["rid", "status", "expiresIn"]);
    const expiresIn = reply && reply.status === 200 ? numberField(reply, "expiresIn", 0, 0x7fffffff) : undefined;
    if (!reply || reply.rid !== this.#statusRid || expiresIn === undefined) {
      this.#log.write("debug", "token-reply-ignored", {});
      return;
    }
    this.#statusRid = "";
    this.tokenStatus = { expiresIn, receivedAt: this.#options.clock.now() };
    this.#log.write("info", "token-status", { expiresIn });
    this.#options.onTokenStatus?.(expiresIn);
  }
}
