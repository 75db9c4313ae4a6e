/**
 * The provisioning session of docs/protocol.md 1: init, verification code, reveal, polling and push,
 * until the platform hands over a sealed registration token. The protocol decisions live here;
 * the MQTT client carries the bytes and the Clock port keeps time. One request is outstanding at
 * a time, so a reply is accepted only when its topic and `rid` match that request (or when it is a
 * push for the pending operation); everything else is ignored.
 */
import { Backoff } from "../backoff";
import { base64urlDecode, base64urlEncode } from "../crypto/base64url";
import { commitment, provisioningClientId, verificationCode } from "../crypto/verification";
import { openRegistrationToken } from "../crypto/sealed-token";
import { isDeviceId, isWorkspaceId, maxOperationIdLength, maxTokenLength, type DeviceIdentity } from "../identity";
import { MqttClient } from "../mqtt/client";
import { silentLog, type DevicePorts, type Log, type TimerHandle } from "../ports";
import { ticksAdd, ticksUntil } from "../ticks";
import { utf8Encode } from "../utf8";
import { encodeJson, numberField, parseJsonObject, replyKeys, RequestIds, stringField, type JsonObject } from "../json";
import { protocolVersion } from "../protocol";
import { codedErrorClass } from "../errors";
import { debugLog } from "../debug-log";

export type ProvisioningErrorCode =
  /** CONNACK 4/5: the provisioning token is unknown, revoked, expired or used up. */
  | "provisioning-token-refused"
  /** The platform's code differs from the device's: someone may be between them. */
  | "verification-mismatch"
  /** The platform says the reveal does not match the commitment (400): the operation is cancelled. */
  | "commitment-mismatch"
  | "operation-rejected"
  /** The platform refused the init itself (400, 403, 409): the request would never succeed as is. */
  | "init-refused"
  | "subscribe-refused"
  /** The registration could not be written to the store. */
  | "store-failed";

export const ProvisioningError = codedErrorClass<ProvisioningErrorCode>("ProvisioningError");
export type ProvisioningError = InstanceType<typeof ProvisioningError>;

export interface OperationDisplay {
  operationId: string;
  verificationCode: string;
  /** Seconds until the operation expires, as the platform said in its init reply. */
  expiresIn: number;
}

/** connecting: to the broker; initializing: init sent; pending: waiting for the technician. */
export type ProvisioningState = "connecting" | "initializing" | "pending" | "registered" | "failed" | "stopped";

export interface ProvisionerOptions extends DevicePorts {
  provisioningToken: string;
  /** Must hold the key pair; its pending operation, if any, is resumed. */
  identity: DeviceIdentity;
  /**
   * Writes the next identity durably (atomically) and returns whether it could: the provisioner
   * hands up every change (a new operation's nonce, its id, the registration) and writes nothing
   * itself. On false it goes on in memory (a reboot then costs a new operation), except for the
   * registration, which fails with "store-failed".
   */
  save(identity: DeviceIdentity): boolean;
  deviceId?: string;
  attributes?: Record<string, string>;
  /** How long to wait for a reply before retrying with backoff; default 10 s. */
  replyTimeoutMs?: number;
  onDisplay(operation: OperationDisplay): void;
  onStateChange?(state: ProvisioningState): void;
  /** The link to the broker failed or ended (see MqttClientOptions): it is tried again in `retryInMs`. */
  onConnectionLost?(error: Error, retryInMs: number): void;
  /** Called once the registration is saved and the provisioning session is closed. */
  onRegistered(identity: DeviceIdentity): void;
  onFailed(error: ProvisioningError): void;
}

type RequestKind = "init" | "complete";

const second = 1000;
/** Bounds on the platform's durations, so a hostile value cannot overflow the 32-bit tick arithmetic. */
const maxDelaySeconds = 86400;
const slowDownSeconds = 5;

export class Provisioner {
  readonly clientId: string;
  private _options: ProvisionerOptions;
  private _log: Log;
  private _identity: DeviceIdentity;
  private _client: MqttClient;
  private _backoff: Backoff;
  private _state: ProvisioningState = "stopped";
  private _subscribed = false;
  /** The stored operation's code, once an init reply of this run gave the platform's nonce. */
  private _code: string | undefined;
  private _pollIntervalMs = 5 * second;
  /** Tick before which no poll may be sent. */
  private _nextPollAt: number | undefined;
  private _outstanding: { rid: string; kind: RequestKind } | undefined;
  private readonly _requestIds = new RequestIds();
  private _stepTimer: TimerHandle | undefined;
  private _expiryTimer: TimerHandle | undefined;
  private _displayed = "";

  constructor(options: ProvisionerOptions) {
    this._options = options;
    this._log = options.log ?? silentLog;
    this._identity = options.identity;
    this._backoff = new Backoff(options.random);
    const publicKey = options.identity.keyPair.publicKey;
    this.clientId = provisioningClientId(publicKey);
    this._client = new MqttClient({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      clientId: this.clientId,
      username: "provisioning",
      password: utf8Encode(options.provisioningToken),
      clean: true,
      keepalive: 60,
      onConnect: () => this._subscribe(),
      onConnectionLost: (error, retryInMs) => {
        this._disconnected();
        options.onConnectionLost?.(error, retryInMs);
      },
      onMessage: (topic, payload) => this._receive(topic, payload),
      onStop: (error) => this._clientStopped(error),
    });
  }

  get state(): ProvisioningState {
    return this._state;
  }

  start(): void {
    if (this._state !== "stopped") return;
    if (!this._identity.pending) this._newOperation();
    this._setState("connecting");
    this._client.start();
  }

  stop(): void {
    if (this._state === "stopped" || this._state === "registered" || this._state === "failed") return;
    this._finish("stopped");
  }

  private _setState(state: ProvisioningState): void {
    if (this._state === state) return;
    this._state = state;
    this._log.write("info", "provisioning-state", { state });
    this._options.onStateChange?.(state);
  }

  private _finish(state: "registered" | "failed" | "stopped"): void {
    this._clearStep();
    this._clearExpiry();
    this._outstanding = undefined;
    this._state = state;
    this._client.stop();
    this._log.write("info", "provisioning-state", { state });
    this._options.onStateChange?.(state);
  }

  private _fail(code: ProvisioningErrorCode, message: string): void {
    this._log.write("error", "provisioning-failed", { code });
    this._finish("failed");
    this._options.onFailed(new ProvisioningError(code, message));
  }

  /** Forgets the operation for good (the record keeps the key) and fails. */
  private _abandon(code: ProvisioningErrorCode, message: string): void {
    this._store({ version: 1, keyPair: this._identity.keyPair });
    this._fail(code, message);
  }

  private _active(): boolean {
    return this._state === "connecting" || this._state === "initializing" || this._state === "pending";
  }

  private _subscribe(): void {
    this._client.subscribe([{ topic: `prov/${this.clientId}/res/+`, qos: 1 }], (error, granted) => {
      if (error || !this._active()) return;
      if (!granted || granted[0] === 0x80) {
        this._fail("subscribe-refused", "the broker refused the provisioning reply topic");
        return;
      }
      this._subscribed = true;
      this._backoff.reset();
      // A known operation is asked about first: it may have been approved while the device was
      // away, and an init would only resume it while pending.
      this._retry(this._identity.pending?.operationId === undefined ? "init" : "complete", 0);
    });
  }

  private _disconnected(): void {
    this._subscribed = false;
    this._outstanding = undefined;
    this._clearStep();
    if (this._active()) this._setState("connecting");
  }

  private _clientStopped(error: Error | undefined): void {
    // The client stops by itself only on CONNACK 4/5, and never retries them.
    if (error && this._active())
      this._fail(
        "provisioning-token-refused",
        `the platform refused the provisioning token (unknown, revoked, expired or used up): ${error.message}`,
      );
  }

  /** Draws a fresh nonce for a new operation and stores it before it is ever used. */
  private _newOperation(): void {
    const deviceNonce = new Uint8Array(16);
    this._options.random.fill(deviceNonce);
    this._code = undefined;
    this._nextPollAt = undefined;
    this._clearExpiry();
    this._store({ ...this._identity, pending: { deviceNonce } });
  }

  private _store(identity: DeviceIdentity): boolean {
    const saved = this._options.save(identity);
    this._identity = identity;
    return saved;
  }

  private _send(kind: RequestKind): void {
    this._clearStep();
    const pending = this._identity.pending;
    if (!this._subscribed || !pending) return;
    const rid = this._requestIds.next();
    const { publicKey } = this._identity.keyPair;
    const body: JsonObject = { v: protocolVersion, rid };
    if (kind === "init") {
      body.publicKey = base64urlEncode(publicKey);
      body.commitment = base64urlEncode(commitment(publicKey, pending.deviceNonce));
      body.operationId = pending.operationId;
      body.deviceId = this._options.deviceId;
      body.attributes = this._options.attributes;
      this._setState("initializing");
    } else {
      if (pending.operationId === undefined) return;
      body.operationId = pending.operationId;
      body.deviceNonce = base64urlEncode(pending.deviceNonce);
      this._nextPollAt = ticksAdd(this._options.clock.now(), this._pollIntervalMs);
    }
    this._outstanding = { rid, kind };
    debugLog(this._log, "provisioning-request", { kind, rid });
    this._client.publish(`prov/${this.clientId}/req/${kind}`, encodeJson(body), { qos: 1 });
    this._schedule(this._options.replyTimeoutMs ?? 10 * second, () => this._replyTimedOut());
  }

  private _replyTimedOut(): void {
    const outstanding = this._outstanding;
    if (!outstanding) return;
    this._outstanding = undefined;
    this._log.write("warn", "provisioning-reply-timeout", { kind: outstanding.kind, rid: outstanding.rid });
    this._retry(outstanding.kind, this._backoff.next());
  }

  /** Sends `kind` after `delayMs`, never polling faster than the operation's interval. */
  private _retry(kind: RequestKind, delayMs: number): void {
    if (kind === "complete" && this._nextPollAt !== undefined)
      delayMs = Math.max(delayMs, ticksUntil(this._options.clock.now(), this._nextPollAt));
    this._schedule(delayMs, () => this._send(kind));
  }

  private _schedule(delayMs: number, action: () => void): void {
    this._clearStep();
    this._stepTimer = this._options.clock.setTimer(delayMs, () => {
      this._stepTimer = undefined;
      if (this._active()) action();
    });
  }

  private _clearStep(): void {
    if (this._stepTimer !== undefined) this._options.clock.clearTimer(this._stepTimer);
    this._stepTimer = undefined;
  }

  private _clearExpiry(): void {
    if (this._expiryTimer !== undefined) this._options.clock.clearTimer(this._expiryTimer);
    this._expiryTimer = undefined;
  }

  private _receive(topic: string, payload: Uint8Array): void {
    if (!this._active()) return;
    const prefix = `prov/${this.clientId}/res/`;
    const kind = topic === prefix + "init" ? "init" : topic === prefix + "complete" ? "complete" : undefined;
    const reply = kind && parseJsonObject(payload, replyKeys);
    const status = reply && numberField(reply, "status", 100, 599);
    if (!kind || !reply || status === undefined) {
      this._ignored("malformed");
      return;
    }
    const outstanding = this._outstanding;
    const operationId = this._identity.pending?.operationId;
    // A push (rid null) only ever concerns the pending operation's outcome.
    const pushed =
      reply.rid === null &&
      kind === "complete" &&
      operationId !== undefined &&
      reply.operationId === operationId &&
      (status === 200 || status === 410);
    if (!pushed && (!outstanding || outstanding.kind !== kind || reply.rid !== outstanding.rid)) {
      debugLog(this._log, "provisioning-reply-ignored", { reason: "unexpected" });
      return;
    }
    if (kind === "init") this._initReplied(reply, status);
    else if (operationId !== undefined && reply.operationId === operationId) this._completeReplied(reply, status);
    else debugLog(this._log, "provisioning-reply-ignored", { reason: "other-operation" });
  }

  private _ignored(reason: string): void {
    this._log.write("warn", "provisioning-reply-ignored", { reason });
  }

  /** Seconds from the reply's `retryAfter`, as milliseconds, or undefined. */
  private _retryAfterMs(reply: JsonObject): number | undefined {
    const seconds = numberField(reply, "retryAfter", 0, maxDelaySeconds);
    return seconds === undefined ? undefined : seconds * second;
  }

  private _initReplied(reply: JsonObject, status: number): void {
    const pending = this._identity.pending;
    if (!pending) return;
    if (status === 200) {
      const operationId = stringField(reply, "operationId", maxOperationIdLength);
      const nonceText = stringField(reply, "nonce", 64);
      const nonce = nonceText === undefined ? undefined : base64urlDecode(nonceText);
      const expiresIn = numberField(reply, "expiresIn", 1, maxDelaySeconds);
      const pollInterval = numberField(reply, "pollInterval", 0, maxDelaySeconds);
      if (operationId === undefined || !nonce || nonce.length !== 16 || expiresIn === undefined) {
        this._ignored("invalid-init-reply");
        return;
      }
      this._outstanding = undefined;
      this._backoff.reset();
      if (pending.operationId !== undefined && pending.operationId !== operationId) {
        // The stored operation is gone. Its nonce was revealed: a new operation needs a new one.
        this._log.write("info", "provisioning-operation-replaced", { operationId: pending.operationId });
        this._newOperation();
        this._send("init");
        return;
      }
      if (pending.operationId === undefined)
        this._store({ ...this._identity, pending: { operationId, deviceNonce: pending.deviceNonce } });
      const code = verificationCode(this._identity.keyPair.publicKey, pending.deviceNonce, nonce, operationId);
      this._code = code;
      this._pollIntervalMs = Math.max(1, pollInterval ?? 5) * second;
      this._clearExpiry();
      this._expiryTimer = this._options.clock.setTimer(expiresIn * second, () => this._operationExpired());
      if (this._displayed !== operationId + code) {
        this._displayed = operationId + code;
        this._options.onDisplay({ operationId, verificationCode: code, expiresIn });
      }
      this._setState("pending");
      // The reveal goes at once, unless this is a resume right after a poll.
      this._retry("complete", 0);
      return;
    }
    this._outstanding = undefined;
    const error = stringField(reply, "error", 64) ?? "";
    this._log.write("warn", "provisioning-init-refused", { status, error });
    if (status === 400 || status === 403 || status === 409)
      this._fail("init-refused", `the platform refused the provisioning request: ${status} ${error}`);
    else this._retry("init", this._retryAfterMs(reply) ?? this._backoff.next());
  }

  private _completeReplied(reply: JsonObject, status: number): void {
    this._outstanding = undefined;
    this._backoff.reset();
    const error = stringField(reply, "error", 64) ?? "";
    this._log.write("info", "provisioning-reply", { status, error });
    const platformCode = reply.verificationCode;
    if (platformCode !== undefined && this._code !== undefined && platformCode !== this._code) {
      this._abandon(
        "verification-mismatch",
        "the platform shows a different verification code: the operation was abandoned",
      );
      return;
    }
    if (status === 202) {
      // After a reboot the code is unknown until an init resumes the operation.
      if (this._code === undefined) this._send("init");
      else this._retry("complete", this._retryAfterMs(reply) ?? 0);
    } else if (status === 200) {
      this._approved(reply);
    } else if (status === 429) {
      this._pollIntervalMs += slowDownSeconds * second;
      this._nextPollAt = ticksAdd(this._options.clock.now(), this._pollIntervalMs);
      this._retry("complete", this._retryAfterMs(reply) ?? 0);
    } else if (status === 409) {
      this._retry("complete", 0);
    } else if (status === 410 && error === "operation-rejected") {
      this._abandon("operation-rejected", "the technician rejected this device");
    } else if (status === 400 && error === "commitment-mismatch") {
      this._abandon("commitment-mismatch", "the platform says the reveal does not match the commitment");
    } else if (status === 404 || status === 410) {
      this._newOperation();
      this._send("init");
    } else {
      this._retry("complete", this._retryAfterMs(reply) ?? this._backoff.next());
    }
  }

  private _approved(reply: JsonObject): void {
    const token = openRegistrationToken(reply.registration, this._identity.keyPair.secretKey);
    const lifetime = numberField(reply, "expiresIn", 0, 0x7fffffff);
    const { workspaceId, deviceId } = reply;
    if (
      !token ||
      token.length > maxTokenLength ||
      lifetime === undefined ||
      !isWorkspaceId(workspaceId) ||
      !isDeviceId(deviceId)
    ) {
      // A repeated complete returns the token sealed afresh: poll again rather than trust this one.
      this._ignored("invalid-approval");
      this._retry("complete", this._backoff.next());
      return;
    }
    const identity: DeviceIdentity = {
      version: 1,
      keyPair: this._identity.keyPair,
      registration: { workspaceId, deviceId, token, lifetime },
    };
    // docs/protocol.md 1d: the registration is durable before the provisioning session is dropped.
    if (!this._store(identity)) {
      this._fail("store-failed", "the registration could not be stored");
      return;
    }
    this._log.write("info", "provisioning-approved", { workspaceId, deviceId });
    this._finish("registered");
    this._options.onRegistered(identity);
  }

  private _operationExpired(): void {
    this._expiryTimer = undefined;
    if (!this._active()) return;
    this._log.write("info", "provisioning-operation-expired", { operationId: this._identity.pending?.operationId });
    this._outstanding = undefined;
    this._newOperation();
    this._send("init");
  }
}
