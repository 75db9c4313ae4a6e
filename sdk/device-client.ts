/**
 * The API a firmware author uses: give it the ports, a store and the provisioning token; it
 * reuses the stored registration, or provisions the device (showing the verification code through
 * `onDisplay`) and then connects the registered session, which keeps its token refreshed. When
 * the platform refuses the registration (revoked, expired while offline, deleted) the device
 * provisions again in the background with the same key, or stops, as the `onRejected` policy says.
 */
import { Backoff } from "./backoff";
import { generateDeviceKeyPair, type DeviceKeyPair } from "./crypto/device-key";
import { IdentityStore, isDeviceId, type DeviceIdentity, type Registration } from "./identity";
import type { MqttClientState } from "./mqtt/client";
import { silentLog, type DevicePorts, type Log, type RecordStore, type TimerHandle } from "./ports";
import {
  Provisioner,
  type OperationDisplay,
  type ProvisioningError,
  type ProvisioningState,
} from "./provisioning/provisioner";
import type { RefreshPolicy } from "./registration/refresh-policy";
import { RegisteredSession, type RegistrationError } from "./registration/session";
import { CodedError, codedErrorClass } from "./errors";
import { Outbox, SendError } from "./outbox";
import { MemoryMessageQueue } from "./storage/memory-message-queue";
import type { MessageQueue } from "./storage/message-queue";

/**
 * provisioning: talking to the provisioning service (detail "registration-rejected" when it starts
 * again because the platform refused the registration); awaiting-approval: the code is shown and
 * the technician has not decided yet; connecting / connected: the registered session; failed: see
 * the detail (a ProvisioningError or RegistrationError code, or "random-failed": no device key
 * could be made).
 */
export type DeviceClientState =
  "stopped" | "provisioning" | "awaiting-approval" | "connecting" | "connected" | "failed";

export interface DeviceClientOptions extends DevicePorts {
  provisioningToken: string;
  /** Requested Device ID (`^[0-9A-Za-z_.-]{4,90}$`); the technician or the token may set another. */
  deviceId?: string;
  /** Shown to the technician: at most 16 string values of at most 64 characters. */
  attributes?: Record<string, string>;
  store: RecordStore;
  /**
   * What to do when the platform refuses the registration (CONNACK 4/5: revoked, expired while
   * offline, deleted): "provision" (default) asks for a new approval in the background, with the
   * same key pair; "stop" fails with detail "registration-rejected".
   */
  onRejected?: "provision" | "stop";
  /** When to refresh the registration token; see RefreshPolicy for the defaults. */
  refresh?: RefreshPolicy;
  /**
   * Where `send` keeps messages until the platform has stored them: a FlashMessageQueue on a
   * partition of its own survives power cuts; default a MemoryMessageQueue (16 messages, 64 KiB).
   */
  queue?: MessageQueue;
  /** A throw from these callbacks is logged, never passed on. */
  onDisplay(operation: OperationDisplay): void;
  /**
   * A new state, or the same one again when a connection to the broker failed: then `detail` says
   * why (a LinkFailure such as "refused", "name-not-resolved" or "tls-untrusted", or an MQTT
   * code such as "connect-timeout" or "server-unavailable") and `retryInMs` when the next try is.
   */
  onStateChange?(state: DeviceClientState, detail?: string, retryInMs?: number): void;
  /** The platform stored a queued message; `waiting` are still queued (0: all delivered). */
  onDelivered?(waiting: number): void;
}

export type DeviceClientErrorCode = "invalid-device-id" | "invalid-attributes";

export const DeviceClientError = codedErrorClass<DeviceClientErrorCode>("DeviceClientError");
export type DeviceClientError = InstanceType<typeof DeviceClientError>;

function checkAttributes(attributes: Record<string, string>): boolean {
  const keys = Object.keys(attributes);
  return (
    keys.length <= 16 &&
    keys.every((key) => key.length <= 64 && typeof attributes[key] === "string" && attributes[key].length <= 64)
  );
}

export class DeviceClient {
  private _options: DeviceClientOptions;
  private _log: Log;
  /** The one writer of the device's record: the provisioner and the session hand changes up to it. */
  private _identities: IdentityStore;
  private _state: DeviceClientState = "stopped";
  private _provisioner: Provisioner | undefined;
  private _session: RegisteredSession | undefined;
  private _identity: DeviceIdentity | undefined;
  /** Spaces the provisioning runs that follow refused registrations: never a hot loop. */
  private _rejections: Backoff;
  private _reprovisionTimer: TimerHandle | undefined;
  /** Why the last start() could not make the device key: no message is queued meanwhile. */
  private _startFailure: string | undefined;
  private readonly _queue: MessageQueue;
  private readonly _outbox: Outbox;

  /** Throws DeviceClientError for an invalid Device ID or attributes: those are firmware bugs. */
  constructor(options: DeviceClientOptions) {
    if (options.deviceId !== undefined && !isDeviceId(options.deviceId))
      throw new DeviceClientError("invalid-device-id", "a Device ID is 4-90 characters of 0-9 A-Z a-z _ . -");
    if (options.attributes && !checkAttributes(options.attributes))
      throw new DeviceClientError(
        "invalid-attributes",
        "attributes are at most 16 string values of at most 64 characters",
      );
    this._options = options;
    this._log = options.log ?? silentLog;
    this._identities = new IdentityStore(options.store, this._log);
    this._rejections = new Backoff(options.random);
    this._queue = options.queue ?? new MemoryMessageQueue({ log: this._log });
    this._outbox = new Outbox(this._queue, this._log, (waiting) =>
      this._call("onDelivered", () => options.onDelivered?.(waiting)),
    );
  }

  get state(): DeviceClientState {
    return this._state;
  }

  /** Known once registered (from the store or from the approval). */
  get deviceId(): string | undefined {
    return this._identity?.registration?.deviceId;
  }

  get workspaceId(): string | undefined {
    return this._identity?.registration?.workspaceId;
  }

  /**
   * Connects with the stored registration, or provisions. A device without a key makes one first:
   * when the Random port throws, it makes none (never one from a failing source), logs why, and
   * fails with detail "random-failed"; `send` then refuses messages until a start succeeds.
   */
  start(): void {
    if (this._state !== "stopped" && this._state !== "failed") return;
    const options = this._options;
    let identity = this._identities.load();
    if (!identity) {
      let keyPair: DeviceKeyPair;
      try {
        keyPair = generateDeviceKeyPair(options.random);
      } catch (error) {
        this._startFailure = error instanceof Error ? error.message : String(error);
        this._log.write("error", "no-device-key", { error: this._startFailure });
        return this._setState("failed", "random-failed");
      }
      identity = { version: 1, keyPair };
      this._identities.save(identity);
    }
    this._startFailure = undefined;
    this._identity = identity;
    if (identity.registration) this._connect(identity.keyPair, identity.registration);
    else this._provision(identity, options.deviceId);
  }

  stop(): void {
    const provisioner = this._provisioner;
    const session = this._session;
    this._provisioner = undefined;
    this._session = undefined;
    this._clearReprovision();
    this._outbox.use(undefined);
    provisioner?.stop();
    session?.stop();
    this._setState("stopped");
  }

  /**
   * Queues a message for `stream` and resolves once the platform has stored it (PUBACK), whether
   * the device is registered and online yet or not. Rejects at once with a SendError (bad stream,
   * too large) or a StorageError (queue full, flash failed) when the message was not queued, and
   * later with SendError "dropped" when the queue's "drop-oldest" policy made room with it.
   * Rejects with SendError "not-started" while the last start() failed to make the device key: a
   * device that cannot register queues nothing.
   */
  send(stream: string, payload: Uint8Array): Promise<void> {
    if (this._startFailure !== undefined)
      return Promise.reject(
        new SendError("not-started", `the device could not start (${this._startFailure}): nothing is queued`),
      );
    return this._outbox.send(stream, payload);
  }

  /** The messages waiting for the platform, and those the queue dropped since boot. */
  get queued(): { messages: number; bytes: number; dropped: number } {
    const queue = this._queue;
    return { messages: queue.waiting.length, bytes: queue.bytes, dropped: queue.dropped };
  }

  private _setState(state: DeviceClientState, detail?: string): void {
    if (this._state === state) return;
    this._state = state;
    this._log.write("info", "device-state", { state, detail });
    this._call("onStateChange", () => this._options.onStateChange?.(state, detail));
  }

  /** The state again, with why the link failed and when it is tried next. */
  private _linkLost(error: Error, retryInMs: number): void {
    const state = this._state;
    const reason = error instanceof CodedError ? (error.code as string) : "failed";
    this._call("onStateChange", () => this._options.onStateChange?.(state, reason, retryInMs));
  }

  /** Runs an application callback: what it throws is logged and goes no further. */
  private _call(name: string, run: () => void): void {
    try {
      run();
    } catch (e) {
      this._log.write("error", "callback-threw", { callback: name, error: String(e) });
    }
  }

  private _clearReprovision(): void {
    if (this._reprovisionTimer !== undefined) this._options.clock.clearTimer(this._reprovisionTimer);
    this._reprovisionTimer = undefined;
  }

  private _provision(identity: DeviceIdentity, deviceId: string | undefined): void {
    const options = this._options;
    const provisioner = new Provisioner({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      provisioningToken: options.provisioningToken,
      identity,
      save: (next) => this._identities.save(next),
      deviceId,
      attributes: options.attributes,
      onDisplay: (operation) => this._call("onDisplay", () => options.onDisplay(operation)),
      onConnectionLost: (error, retryInMs) => this._provisioner === provisioner && this._linkLost(error, retryInMs),
      onStateChange: (state: ProvisioningState) => {
        if (this._provisioner !== provisioner) return;
        if (state === "connecting" || state === "initializing") this._setState("provisioning");
        else if (state === "pending") this._setState("awaiting-approval");
      },
      onRegistered: (registered) => {
        if (this._provisioner !== provisioner || !registered.registration) return;
        this._provisioner = undefined;
        this._identity = registered;
        this._connect(registered.keyPair, registered.registration);
      },
      onFailed: (error: ProvisioningError) => {
        if (this._provisioner !== provisioner) return;
        this._provisioner = undefined;
        this._setState("failed", error.code);
      },
    });
    this._provisioner = provisioner;
    provisioner.start();
  }

  private _connect(keyPair: DeviceKeyPair, registration: Registration): void {
    const options = this._options;
    const session: RegisteredSession = new RegisteredSession({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      registration,
      secretKey: keyPair.secretKey,
      refresh: options.refresh,
      onConnectionLost: (error, retryInMs) => this._session === session && this._linkLost(error, retryInMs),
      onStateChange: (state: MqttClientState) => {
        if (this._session !== session || state === "stopped") return;
        if (state === "connected") this._rejections.reset();
        this._setState(state === "connected" ? "connected" : "connecting");
      },
      onRefreshed: (refreshed: Registration): boolean =>
        this._session === session && this._store({ version: 1, keyPair, registration: refreshed }),
      onRejected: (error: RegistrationError) => {
        if (this._session !== session) return;
        this._session = undefined;
        this._outbox.use(undefined);
        this._rejected(error, keyPair, session.registration.deviceId);
      },
    });
    this._session = session;
    this._setState("connecting");
    session.start();
    this._outbox.use(session);
  }

  /** Writes the record atomically; false (old record kept) when the store cannot. */
  private _store(identity: DeviceIdentity): boolean {
    if (!this._identities.save(identity)) return false;
    this._identity = identity;
    return true;
  }

  private _rejected(error: RegistrationError, keyPair: DeviceKeyPair, previousDeviceId: string): void {
    if (this._options.onRejected === "stop") {
      this._setState("failed", error.code);
      return;
    }
    const delayMs = this._rejections.next();
    this._log.write("warn", "provisioning-again", { inMs: delayMs });
    this._setState("provisioning", error.code);
    // The same key pair asks again, for the Device ID it had unless the firmware asks for one.
    const deviceId = this._options.deviceId ?? previousDeviceId;
    this._reprovisionTimer = this._options.clock.setTimer(delayMs, () => {
      this._reprovisionTimer = undefined;
      if (this._state === "provisioning") this._provision({ version: 1, keyPair }, deviceId);
    });
  }
}
