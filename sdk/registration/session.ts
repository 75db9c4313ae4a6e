/**
 * The registered session of docs/protocol.md 2: a persistent MQTT session under the device's own name,
 * messages to its streams, the token status asked after every connect, and the token refresh it
 * schedules (2b). A refreshed token is handed to the owner to store before the session switches
 * to it, so the credential on flash is always one the platform accepts.
 */
import { Backoff } from "../backoff";
import { openRegistrationToken } from "../crypto/sealed-token";
import { maxTokenLength, type Registration } from "../identity";
import { MqttClient, type MqttClientState } from "../mqtt/client";
import { silentLog, type DevicePorts, type Log } from "../ports";
import { encodeJson, numberField, parseJsonObject, replyKeys, RequestIds, stringField, type JsonObject } from "../json";
import { protocolVersion, topicLevel } from "../protocol";
import { utf8Encode } from "../utf8";
import { LongTimer } from "./long-timer";
import { refreshDelayMs, type RefreshPolicy } from "./refresh-policy";
import { codedErrorClass } from "../errors";
import { debugLog } from "../debug-log";

/** Bounds on the platform's durations (seconds): what the stored record holds; long waits are chained. */
const maxLifetimeS = 0x7fffffff;
const maxRetryAfterS = 86400;

export type RegistrationErrorCode = "registration-rejected";

export const RegistrationError = codedErrorClass<RegistrationErrorCode>("RegistrationError");
export type RegistrationError = InstanceType<typeof RegistrationError>;

export interface RegisteredSessionOptions extends DevicePorts {
  registration: Registration;
  /** The device's secret key: refreshed tokens are sealed to it. */
  secretKey: Uint8Array;
  refresh?: RefreshPolicy;
  /** Session MQTT state: "connected" once CONNACK arrived. */
  onStateChange?(state: MqttClientState): void;
  /** The link to the broker failed or ended (see MqttClientOptions): it is tried again in `retryInMs`. */
  onConnectionLost?(error: Error, retryInMs: number): void;
  /** The platform answered the status request: the token lives `expiresIn` more seconds. */
  onTokenStatus?(expiresIn: number): void;
  /**
   * Store the refreshed registration durably (atomically) and return true; the session then
   * reconnects with it. On false the session keeps the old token and tries again later.
   */
  onRefreshed(registration: Registration): boolean;
  /** CONNACK 4/5: the token is expired or revoked, or the device was deleted. The session has stopped. */
  onRejected(error: RegistrationError): void;
}

type TokenOp = "status" | "refresh";

export class RegisteredSession {
  /** "ws/{workspaceId}/dev/{deviceId}" (the ID in its topic form), the root of every topic of this device. */
  readonly root: string;
  /** The last status reply: `expiresIn` seconds as of tick `receivedAt` (30 days outrun the 32-bit tick range). */
  tokenStatus: { expiresIn: number; receivedAt: number } | undefined;
  private _options: RegisteredSessionOptions;
  private _log: Log;
  private _name: string;
  private _registration: Registration;
  private _client: MqttClient;
  private _backoff: Backoff;
  /** The scheduled refresh, or the next try of a failed request. */
  private _next: LongTimer;
  private _replyTimer: LongTimer;
  private _outstanding: { rid: string; op: TokenOp } | undefined;
  private readonly _requestIds = new RequestIds();

  constructor(options: RegisteredSessionOptions) {
    this._options = options;
    this._log = options.log ?? silentLog;
    this._registration = options.registration;
    this._backoff = new Backoff(options.random, options.refresh?.retry);
    this._next = new LongTimer(options.clock);
    this._replyTimer = new LongTimer(options.clock);
    const { workspaceId, deviceId, token } = options.registration;
    this.root = `ws/${workspaceId}/dev/${topicLevel(deviceId)}`;
    this._name = `${workspaceId}:${deviceId}`;
    this._client = new MqttClient({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      clientId: this._name,
      username: this._name,
      password: utf8Encode(token),
      clean: false,
      keepalive: 60,
      onStateChange: (state) => options.onStateChange?.(state),
      onConnect: () => this._connected(),
      onConnectionLost: (error, retryInMs) => {
        this._idle();
        options.onConnectionLost?.(error, retryInMs);
      },
      onMessage: (topic, payload) => this._receive(topic, payload),
      onStop: (error) => {
        this._idle();
        if (!error) return;
        this._log.write("error", "registration-rejected", { reason: error.message });
        options.onRejected(
          new RegistrationError(
            "registration-rejected",
            `the platform refused the registration token: ${error.message}`,
          ),
        );
      },
    });
  }

  get state(): MqttClientState {
    return this._client.state;
  }

  /** The registration the session connects with: the newest stored one. */
  get registration(): Registration {
    return this._registration;
  }

  start(): void {
    this._client.start();
  }

  stop(): void {
    this._client.stop();
  }

  /**
   * Publishes a queued message to its stream with QoS 1, under the packet id it keeps for life
   * (one of `queuedMessageIds`) and DUP when it may have gone out before; `callback` runs once the
   * platform has stored it (PUBACK), or with an error when this session ends first.
   */
  send(
    stream: string,
    payload: Uint8Array,
    id: { messageId: number; dup: boolean },
    callback: (error: Error | undefined) => void,
  ): void {
    // The topic names the message's own id (protocol v2): a broker that passes on no packet id
    // still lets the platform know a resend.
    this._client.publish(
      `${this.root}/msg/${topicLevel(stream)}/${id.messageId}`,
      payload,
      { qos: 1, ...id },
      callback,
    );
  }

  /** The link is gone: nothing asked is coming back, and the next connect starts over with status. */
  private _idle(): void {
    this._next.clear();
    this._replyTimer.clear();
    this._outstanding = undefined;
  }

  private _connected(): void {
    const topics = [`${this.root}/res/+`, `${this.root}/cmd/#`];
    this._client.subscribe(
      topics.map((topic) => ({ topic, qos: 1 })),
      (error, granted) => {
        if (error) return;
        if (granted?.includes(0x80)) this._log.write("warn", "subscribe-refused", {});
        this._request("status");
      },
    );
  }

  private _request(op: TokenOp): void {
    if (this._client.state !== "connected") return;
    const rid = this._requestIds.next();
    this._outstanding = { rid, op };
    debugLog(this._log, "token-request", { op, rid });
    this._client.publish(`${this.root}/req/token`, encodeJson({ v: protocolVersion, rid, op }), { qos: 1 });
    this._replyTimer.set(this._options.refresh?.replyTimeoutMs ?? 10000, () => {
      this._outstanding = undefined;
      this._log.write("warn", "token-reply-timeout", { op, rid });
      this._retry(op, undefined);
    });
  }

  /** Asks again after the platform's `retryAfter` or the next backoff delay. */
  private _retry(op: TokenOp, retryAfterS: number | undefined): void {
    const delayMs = retryAfterS === undefined ? this._backoff.next() : retryAfterS * 1000;
    this._next.set(delayMs, () => this._request(op));
  }

  private _receive(topic: string, payload: Uint8Array): void {
    if (topic !== `${this.root}/res/token`) {
      debugLog(this._log, "message-ignored", { topic });
      return;
    }
    const reply = parseJsonObject(payload, replyKeys);
    const outstanding = this._outstanding;
    const status = reply && numberField(reply, "status", 100, 599);
    if (!reply || status === undefined || !outstanding || reply.rid !== outstanding.rid) {
      debugLog(this._log, "token-reply-ignored", {});
      return;
    }
    this._outstanding = undefined;
    this._replyTimer.clear();
    const retryAfter = numberField(reply, "retryAfter", 0, maxRetryAfterS);
    if (status !== 200) {
      this._log.write("warn", "token-request-refused", {
        op: outstanding.op,
        status,
        error: stringField(reply, "error", 64),
      });
      this._retry(outstanding.op, retryAfter);
    } else if (outstanding.op === "status") this._statusReplied(reply);
    else this._refreshReplied(reply);
  }

  private _statusReplied(reply: JsonObject): void {
    const expiresIn = numberField(reply, "expiresIn", 0, maxLifetimeS);
    if (expiresIn === undefined) return this._retry("status", undefined);
    this._backoff.reset();
    this.tokenStatus = { expiresIn, receivedAt: this._options.clock.now() };
    const delayMs = refreshDelayMs(expiresIn, this._registration.lifetime, this._options.refresh);
    this._log.write("info", "token-status", { expiresIn, refreshInMs: delayMs });
    this._next.set(delayMs, () => this._request("refresh"));
    this._options.onTokenStatus?.(expiresIn);
  }

  private _refreshReplied(reply: JsonObject): void {
    const token = openRegistrationToken(reply.registration, this._options.secretKey);
    const lifetime = numberField(reply, "expiresIn", 1, maxLifetimeS);
    if (token === undefined || token.length > maxTokenLength || lifetime === undefined) {
      // Not sealed to this device's key, or malformed: never stored, the old token stays.
      this._log.write("warn", "token-refresh-unusable", {});
      return this._retry("refresh", undefined);
    }
    const registration: Registration = { ...this._registration, token, lifetime };
    if (!this._options.onRefreshed(registration)) {
      this._log.write("error", "token-refresh-not-stored", {});
      return this._retry("refresh", undefined);
    }
    this._registration = registration;
    this._client.setCredentials(this._name, utf8Encode(token));
    this._backoff.reset();
    const graceS = numberField(reply, "graceIn", 0, maxLifetimeS) ?? 0;
    this._log.write("info", "token-refreshed", { expiresIn: lifetime, graceIn: graceS });
    // From a timer, so this reply's PUBACK goes out first. The platform ends the old token's grace
    // once the new one is used; messages in flight are resent on the new link.
    this._next.set(0, () => {
      this._idle();
      this._client.reconnect();
    });
  }
}
