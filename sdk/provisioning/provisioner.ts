/**
 * The provisioning session of docs/protocol.md 1: init, verification code, reveal, polling and push,
 * until the platform hands over a sealed registration token. The protocol decisions live here;
 * the MQTT client carries the bytes and the Clock port keeps time. One request is outstanding at
 * a time, so a reply is accepted only when its topic and `rid` match that request (or when it is a
 * push for the pending operation); everything else is ignored.
 */
import { Backoff } from "../backoff";
import { base64urlDecode, base64urlEncode } from "../crypto/base64url";
import { openRegistrationReply } from "../crypto/sealed-token";
import { commitment, provisioningClientId, verificationCode } from "../crypto/verification";
import { isDeviceId, isWorkspaceId, maxOperationIdLength, maxTokenLength, type DeviceIdentity } from "../identity";
import { MqttClient } from "../mqtt/client";
import { silentLog, type DevicePorts, type Log, type TimerHandle } from "../ports";
import { ticksAdd, ticksUntil } from "../ticks";
import { utf8Encode } from "../utf8";
import { encodeJson, numberField, parseJsonObject, RequestIds, stringField, type JsonObject } from "../json";
import { protocolVersion } from "../protocol";
import { CodedError } from "../errors";

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

export class ProvisioningError extends CodedError<ProvisioningErrorCode> {
  override name = "ProvisioningError";
}

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

const replyKeys = Object.freeze([
  "rid",
  "status",
  "error",
  "message",
  "retryAfter",
  "operationId",
  "nonce",
  "expiresIn",
  "pollInterval",
  "verificationCode",
  "workspaceId",
  "deviceId",
  "registration",
  "sealed",
  "serverPublicKey",
]);

type RequestKind = "init" | "complete";

const second = 1000;
/** Bounds on the platform's durations, so a hostile value cannot overflow the 32-bit tick arithmetic. */
const maxDelaySeconds = 86400;
const slowDownSeconds = 5;

export class Provisioner {
  readonly clientId: string;
  #options: ProvisionerOptions;
  #log: Log;
  #identity: DeviceIdentity;
  #client: MqttClient;
  #backoff: Backoff;
  #state: ProvisioningState = "stopped";
  #subscribed = false;
  /** The stored operation's code, once an init reply of this run gave the platform's nonce. */
  #code: string | undefined;
  #pollIntervalMs = 5 * second;
  /** Tick before which no poll may be sent. */
  #nextPollAt: number | undefined;
  #outstanding: { rid: string; kind: RequestKind } | undefined;
  readonly #requestIds = new RequestIds();
  #stepTimer: TimerHandle | undefined;
  #expiryTimer: TimerHandle | undefined;
  #displayed = "";

  constructor(options: ProvisionerOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLog;
    this.#identity = options.identity;
    this.#backoff = new Backoff(options.random);
    const publicKey = options.identity.keyPair.publicKey;
    this.clientId = provisioningClientId(publicKey);
    this.#client = new MqttClient({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      clientId: this.clientId,
      username: "provisioning",
      password: utf8Encode(options.provisioningToken),
      clean: true,
      keepalive: 60,
      onConnect: () => this.#subscribe(),
      onConnectionLost: (error, retryInMs) => {
        this.#disconnected();
        options.onConnectionLost?.(error, retryInMs);
      },
      onMessage: (topic, payload) => this.#receive(topic, payload),
      onStop: (error) => this.#clientStopped(error),
    });
  }

  get state(): ProvisioningState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== "stopped") return;
    if (!this.#identity.pending) this.#newOperation();
    this.#setState("connecting");
    this.#client.start();
  }

  stop(): void {
    if (this.#state === "stopped" || this.#state === "registered" || this.#state === "failed") return;
    this.#finish("stopped");
  }

  #setState(state: ProvisioningState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#log.write("info", "provisioning-state", { state });
    this.#options.onStateChange?.(state);
  }

  #finish(state: "registered" | "failed" | "stopped"): void {
    this.#clearStep();
    this.#clearExpiry();
    this.#outstanding = undefined;
    this.#state = state;
    this.#client.stop();
    this.#log.write("info", "provisioning-state", { state });
    this.#options.onStateChange?.(state);
  }

  #fail(code: ProvisioningErrorCode, message: string): void {
    this.#log.write("error", "provisioning-failed", { code });
    this.#finish("failed");
    this.#options.onFailed(new ProvisioningError(code, message));
  }

  /** Forgets the operation for good (the record keeps the key) and fails. */
  #abandon(code: ProvisioningErrorCode, message: string): void {
    this.#store({ version: 1, keyPair: this.#identity.keyPair });
    this.#fail(code, message);
  }

  #active(): boolean {
    return this.#state === "connecting" || this.#state === "initializing" || this.#state === "pending";
  }

  #subscribe(): void {
    this.#client.subscribe([{ topic: `prov/${this.clientId}/res/+`, qos: 1 }], (error, granted) => {
      if (error || !this.#active()) return;
      if (!granted || granted[0] === 0x80) {
        this.#fail("subscribe-refused", "the broker refused the provisioning reply topic");
        return;
      }
      this.#subscribed = true;
      this.#backoff.reset();
      // A known operation is asked about first: it may have been approved while the device was
      // away, and an init would only resume it while pending.
      this.#retry(this.#identity.pending?.operationId === undefined ? "init" : "complete", 0);
    });
  }

  #disconnected(): void {
    this.#subscribed = false;
    this.#outstanding = undefined;
    this.#clearStep();
    if (this.#active()) this.#setState("connecting");
  }

  #clientStopped(error: Error | undefined): void {
    // The client stops by itself only on CONNACK 4/5, and never retries them.
    if (error && this.#active())
      this.#fail(
        "provisioning-token-refused",
        `the platform refused the provisioning token (unknown, revoked, expired or used up): ${error.message}`,
      );
  }

  /** Draws a fresh nonce for a new operation and stores it before it is ever used. */
  #newOperation(): void {
    const deviceNonce = new Uint8Array(16);
    this.#options.random.fill(deviceNonce);
    this.#code = undefined;
    this.#nextPollAt = undefined;
    this.#clearExpiry();
    this.#store({ ...this.#identity, pending: { deviceNonce } });
  }

  #store(identity: DeviceIdentity): boolean {
    const saved = this.#options.save(identity);
    this.#identity = identity;
    return saved;
  }

  #send(kind: RequestKind): void {
    this.#clearStep();
    const pending = this.#identity.pending;
    if (!this.#subscribed || !pending) return;
    const rid = this.#requestIds.next();
    const { publicKey } = this.#identity.keyPair;
    const body: JsonObject = { v: protocolVersion, rid };
    if (kind === "init") {
      body.publicKey = base64urlEncode(publicKey);
      body.commitment = base64urlEncode(commitment(publicKey, pending.deviceNonce));
      body.operationId = pending.operationId;
      body.deviceId = this.#options.deviceId;
      body.attributes = this.#options.attributes;
      this.#setState("initializing");
    } else {
      if (pending.operationId === undefined) return;
      body.operationId = pending.operationId;
      body.deviceNonce = base64urlEncode(pending.deviceNonce);
      this.#nextPollAt = ticksAdd(this.#options.clock.now(), this.#pollIntervalMs);
    }
    this.#outstanding = { rid, kind };
    this.#log.write("debug", "provisioning-request", { kind, rid });
    this.#client.publish(`prov/${this.clientId}/req/${kind}`, encodeJson(body), { qos: 1 });
    this.#schedule(this.#options.replyTimeoutMs ?? 10 * second, () => this.#replyTimedOut());
  }

  #replyTimedOut(): void {
    const outstanding = this.#outstanding;
    if (!outstanding) return;
    this.#outstanding = undefined;
    this.#log.write("warn", "provisioning-reply-timeout", { kind: outstanding.kind, rid: outstanding.rid });
    this.#retry(outstanding.kind, this.#backoff.next());
  }

  /** Sends `kind` after `delayMs`, never polling faster than the operation's interval. */
  #retry(kind: RequestKind, delayMs: number): void {
    if (kind === "complete" && this.#nextPollAt !== undefined)
      delayMs = Math.max(delayMs, ticksUntil(this.#options.clock.now(), this.#nextPollAt));
    this.#schedule(delayMs, () => this.#send(kind));
  }

  #schedule(delayMs: number, action: () => void): void {
    this.#clearStep();
    this.#stepTimer = this.#options.clock.setTimer(delayMs, () => {
      this.#stepTimer = undefined;
      if (this.#active()) action();
    });
  }

  #clearStep(): void {
    if (this.#stepTimer !== undefined) this.#options.clock.clearTimer(this.#stepTimer);
    this.#stepTimer = undefined;
  }

  #clearExpiry(): void {
    if (this.#expiryTimer !== undefined) this.#options.clock.clearTimer(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }

  #receive(topic: string, payload: Uint8Array): void {
    if (!this.#active()) return;
    const prefix = `prov/${this.clientId}/res/`;
    const kind = topic === prefix + "init" ? "init" : topic === prefix + "complete" ? "complete" : undefined;
    const reply = kind && parseJsonObject(payload, replyKeys);
    const status = reply && numberField(reply, "status", 100, 599);
    if (!kind || !reply || status === undefined) {
      this.#log.write("warn", "provisioning-reply-ignored", { reason: "malformed" });
      return;
    }
    const outstanding = this.#outstanding;
    const operationId = this.#identity.pending?.operationId;
    // A push (rid null) only ever concerns the pending operation's outcome.
    const pushed =
      reply.rid === null &&
      kind === "complete" &&
      operationId !== undefined &&
      reply.operationId === operationId &&
      (status === 200 || status === 410);
    if (!pushed && (!outstanding || outstanding.kind !== kind || reply.rid !== outstanding.rid)) {
      this.#log.write("debug", "provisioning-reply-ignored", { reason: "unexpected" });
      return;
    }
    if (kind === "init") this.#initReplied(reply, status);
    else if (operationId !== undefined && reply.operationId === operationId) this.#completeReplied(reply, status);
    else this.#log.write("debug", "provisioning-reply-ignored", { reason: "other-operation" });
  }

  /** Seconds from the reply's `retryAfter`, as milliseconds, or undefined. */
  #retryAfterMs(reply: JsonObject): number | undefined {
    const seconds = numberField(reply, "retryAfter", 0, maxDelaySeconds);
    return seconds === undefined ? undefined : seconds * second;
  }

  #initReplied(reply: JsonObject, status: number): void {
    const pending = this.#identity.pending;
    if (!pending) return;
    if (status === 200) {
      const operationId = stringField(reply, "operationId", maxOperationIdLength);
      const nonceText = stringField(reply, "nonce", 64);
      const nonce = nonceText === undefined ? undefined : base64urlDecode(nonceText);
      const expiresIn = numberField(reply, "expiresIn", 1, maxDelaySeconds);
      const pollInterval = numberField(reply, "pollInterval", 0, maxDelaySeconds);
      if (operationId === undefined || !nonce || nonce.length !== 16 || expiresIn === undefined) {
        this.#log.write("warn", "provisioning-reply-ignored", { reason: "invalid-init-reply" });
        return;
      }
      this.#outstanding = undefined;
      this.#backoff.reset();
      if (pending.operationId !== undefined && pending.operationId !== operationId) {
        // The stored operation is gone. Its nonce was revealed: a new operation needs a new one.
        this.#log.write("info", "provisioning-operation-replaced", { operationId: pending.operationId });
        this.#newOperation();
        this.#send("init");
        return;
      }
      if (pending.operationId === undefined)
        this.#store({ ...this.#identity, pending: { operationId, deviceNonce: pending.deviceNonce } });
      const code = verificationCode(this.#identity.keyPair.publicKey, pending.deviceNonce, nonce, operationId);
      this.#code = code;
      this.#pollIntervalMs = Math.max(1, pollInterval ?? 5) * second;
      this.#clearExpiry();
      this.#expiryTimer = this.#options.clock.setTimer(expiresIn * second, () => this.#operationExpired());
      if (this.#displayed !== operationId + code) {
        this.#displayed = operationId + code;
        this.#options.onDisplay({ operationId, verificationCode: code, expiresIn });
      }
      this.#setState("pending");
      // The reveal goes at once, unless this is a resume right after a poll.
      this.#retry("complete", 0);
      return;
    }
    this.#outstanding = undefined;
    const error = stringField(reply, "error", 64) ?? "";
    this.#log.write("warn", "provisioning-init-refused", { status, error });
    if (status === 400 || status === 403 || status === 409)
      this.#fail("init-refused", `the platform refused the provisioning request: ${status} ${error}`);
    else this.#retry("init", this.#retryAfterMs(reply) ?? this.#backoff.next());
  }

  #completeReplied(reply: JsonObject, status: number): void {
    this.#outstanding = undefined;
    this.#backoff.reset();
    const error = stringField(reply, "error", 64) ?? "";
    this.#log.write("info", "provisioning-reply", { status, error });
    const platformCode = reply.verificationCode;
    if (platformCode !== undefined && this.#code !== undefined && platformCode !== this.#code) {
      this.#abandon(
        "verification-mismatch",
        "the platform shows a different verification code: the operation was abandoned",
      );
      return;
    }
    if (status === 202) {
      // After a reboot the code is unknown until an init resumes the operation.
      if (this.#code === undefined) this.#send("init");
      else this.#retry("complete", this.#retryAfterMs(reply) ?? 0);
    } else if (status === 200) {
      this.#approved(reply);
    } else if (status === 429) {
      this.#pollIntervalMs += slowDownSeconds * second;
      this.#nextPollAt = ticksAdd(this.#options.clock.now(), this.#pollIntervalMs);
      this.#retry("complete", this.#retryAfterMs(reply) ?? 0);
    } else if (status === 409) {
      this.#retry("complete", 0);
    } else if (status === 410 && error === "operation-rejected") {
      this.#abandon("operation-rejected", "the technician rejected this device");
    } else if (status === 400 && error === "commitment-mismatch") {
      this.#abandon("commitment-mismatch", "the platform says the reveal does not match the commitment");
    } else if (status === 404 || status === 410) {
      this.#newOperation();
      this.#send("init");
    } else {
      this.#retry("complete", this.#retryAfterMs(reply) ?? this.#backoff.next());
    }
  }

  #approved(reply: JsonObject): void {
    const token = openRegistrationReply(reply.registration, this.#identity.keyPair.secretKey);
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
      this.#log.write("warn", "provisioning-reply-ignored", { reason: "invalid-approval" });
      this.#retry("complete", this.#backoff.next());
      return;
    }
    const identity: DeviceIdentity = {
      version: 1,
      keyPair: this.#identity.keyPair,
      registration: { workspaceId, deviceId, token, lifetime },
    };
    // docs/protocol.md 1d: the registration is durable before the provisioning session is dropped.
    if (!this.#store(identity)) {
      this.#fail("store-failed", "the registration could not be stored");
      return;
    }
    this.#log.write("info", "provisioning-approved", { workspaceId, deviceId });
    this.#finish("registered");
    this.#options.onRegistered(identity);
  }

  #operationExpired(): void {
    this.#expiryTimer = undefined;
    if (!this.#active()) return;
    this.#log.write("info", "provisioning-operation-expired", { operationId: this.#identity.pending?.operationId });
    this.#outstanding = undefined;
    this.#newOperation();
    this.#send("init");
  }
}
