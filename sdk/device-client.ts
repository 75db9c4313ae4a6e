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
import { CodedError } from "./errors";
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

export class DeviceClientError extends CodedError<DeviceClientErrorCode> {
  override name = "DeviceClientError";
}

function checkAttributes(attributes: Record<string, string>): boolean {
  const keys = Object.keys(attributes);
  return (
    keys.length <= 16 &&
    keys.every((key) => key.length <= 64 && typeof attributes[key] === "string" && attributes[key].length <= 64)
  );
}

export class DeviceClient {
  #options: DeviceClientOptions;
  #log: Log;
  /** The one writer of the device's record: the provisioner and the session hand changes up to it. */
  #identities: IdentityStore;
  #state: DeviceClientState = "stopped";
  #provisioner: Provisioner | undefined;
  #session: RegisteredSession | undefined;
  #identity: DeviceIdentity | undefined;
  /** Spaces the provisioning runs that follow refused registrations: never a hot loop. */
  #rejections: Backoff;
  #reprovisionTimer: TimerHandle | undefined;
  /** Why the last start() could not make the device key: no message is queued meanwhile. */
  #startFailure: string | undefined;
  readonly #queue: MessageQueue;
  readonly #outbox: Outbox;

  /** Throws DeviceClientError for an invalid Device ID or attributes: those are firmware bugs. */
  constructor(options: DeviceClientOptions) {
    if (options.deviceId !== undefined && !isDeviceId(options.deviceId))
      throw new DeviceClientError("invalid-device-id", "a Device ID is 4-90 characters of 0-9 A-Z a-z _ . -");
    if (options.attributes && !checkAttributes(options.attributes))
      throw new DeviceClientError(
        "invalid-attributes",
        "attributes are at most 16 string values of at most 64 characters",
      );
    this.#options = options;
    this.#log = options.log ?? silentLog;
    this.#identities = new IdentityStore(options.store, this.#log);
    this.#rejections = new Backoff(options.random);
    this.#queue = options.queue ?? new MemoryMessageQueue({ log: this.#log });
    this.#outbox = new Outbox(this.#queue, this.#log, (waiting) =>
      this.#call("onDelivered", () => options.onDelivered?.(waiting)),
    );
  }

  get state(): DeviceClientState {
    return this.#state;
  }

  /** Known once registered (from the store or from the approval). */
  get deviceId(): string | undefined {
    return this.#identity?.registration?.deviceId;
  }

  get workspaceId(): string | undefined {
    return this.#identity?.registration?.workspaceId;
  }

  /**
   * Connects with the stored registration, or provisions. A device without a key makes one first:
   * when the Random port throws, it makes none (never one from a failing source), logs why, and
   * fails with detail "random-failed"; `send` then refuses messages until a start succeeds.
   */
  start(): void {
    if (this.#state !== "stopped" && this.#state !== "failed") return;
    const options = this.#options;
    let identity = this.#identities.load();
    if (!identity) {
      let keyPair: DeviceKeyPair;
      try {
        keyPair = generateDeviceKeyPair(options.random);
      } catch (error) {
        this.#startFailure = error instanceof Error ? error.message : String(error);
        this.#log.write("error", "no-device-key", { error: this.#startFailure });
        return this.#setState("failed", "random-failed");
      }
      identity = { version: 1, keyPair };
      this.#identities.save(identity);
    }
    this.#startFailure = undefined;
    this.#identity = identity;
    if (identity.registration) this.#connect(identity.keyPair, identity.registration);
    else this.#provision(identity, options.deviceId);
  }

  stop(): void {
    const provisioner = this.#provisioner;
    const session = this.#session;
    this.#provisioner = undefined;
    this.#session = undefined;
    this.#clearReprovision();
    this.#outbox.use(undefined);
    provisioner?.stop();
    session?.stop();
    this.#setState("stopped");
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
    if (this.#startFailure !== undefined)
      return Promise.reject(
        new SendError("not-started", `the device could not start (${this.#startFailure}): nothing is queued`),
      );
    return this.#outbox.send(stream, payload);
  }

  /** The messages waiting for the platform, and those the queue dropped since boot. */
  get queued(): { messages: number; bytes: number; dropped: number } {
    const queue = this.#queue;
    return { messages: queue.waiting.length, bytes: queue.bytes, dropped: queue.dropped };
  }

  #setState(state: DeviceClientState, detail?: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#log.write("info", "device-state", { state, detail });
    this.#call("onStateChange", () => this.#options.onStateChange?.(state, detail));
  }

  /** The state again, with why the link failed and when it is tried next. */
  #linkLost(error: Error, retryInMs: number): void {
    const state = this.#state;
    const reason = error instanceof CodedError ? (error.code as string) : "failed";
    this.#call("onStateChange", () => this.#options.onStateChange?.(state, reason, retryInMs));
  }

  /** Runs an application callback: what it throws is logged and goes no further. */
  #call(name: string, run: () => void): void {
    try {
      run();
    } catch (e) {
      this.#log.write("error", "callback-threw", { callback: name, error: String(e) });
    }
  }

  #clearReprovision(): void {
    if (this.#reprovisionTimer !== undefined) this.#options.clock.clearTimer(this.#reprovisionTimer);
    this.#reprovisionTimer = undefined;
  }

  #provision(identity: DeviceIdentity, deviceId: string | undefined): void {
    const options = this.#options;
    const provisioner = new Provisioner({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      provisioningToken: options.provisioningToken,
      identity,
      save: (next) => this.#identities.save(next),
      deviceId,
      attributes: options.attributes,
      onDisplay: (operation) => this.#call("onDisplay", () => options.onDisplay(operation)),
      onConnectionLost: (error, retryInMs) => this.#provisioner === provisioner && this.#linkLost(error, retryInMs),
      onStateChange: (state: ProvisioningState) => {
        if (this.#provisioner !== provisioner) return;
        if (state === "connecting" || state === "initializing") this.#setState("provisioning");
        else if (state === "pending") this.#setState("awaiting-approval");
      },
      onRegistered: (registered) => {
        if (this.#provisioner !== provisioner || !registered.registration) return;
        this.#provisioner = undefined;
        this.#identity = registered;
        this.#connect(registered.keyPair, registered.registration);
      },
      onFailed: (error: ProvisioningError) => {
        if (this.#provisioner !== provisioner) return;
        this.#provisioner = undefined;
        this.#setState("failed", error.code);
      },
    });
    this.#provisioner = provisioner;
    provisioner.start();
  }

  #connect(keyPair: DeviceKeyPair, registration: Registration): void {
    const options = this.#options;
    const session: RegisteredSession = new RegisteredSession({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      registration,
      secretKey: keyPair.secretKey,
      refresh: options.refresh,
      onConnectionLost: (error, retryInMs) => this.#session === session && this.#linkLost(error, retryInMs),
      onStateChange: (state: MqttClientState) => {
        if (this.#session !== session || state === "stopped") return;
        if (state === "connected") this.#rejections.reset();
        this.#setState(state === "connected" ? "connected" : "connecting");
      },
      onRefreshed: (refreshed: Registration): boolean =>
        this.#session === session && this.#store({ version: 1, keyPair, registration: refreshed }),
      onRejected: (error: RegistrationError) => {
        if (this.#session !== session) return;
        this.#session = undefined;
        this.#outbox.use(undefined);
        this.#rejected(error, keyPair, session.registration.deviceId);
      },
    });
    this.#session = session;
    this.#setState("connecting");
    session.start();
    this.#outbox.use(session);
  }

  /** Writes the record atomically; false (old record kept) when the store cannot. */
  #store(identity: DeviceIdentity): boolean {
    if (!this.#identities.save(identity)) return false;
    this.#identity = identity;
    return true;
  }

  #rejected(error: RegistrationError, keyPair: DeviceKeyPair, previousDeviceId: string): void {
    if (this.#options.onRejected === "stop") {
      this.#setState("failed", error.code);
      return;
    }
    const delayMs = this.#rejections.next();
    this.#log.write("warn", "provisioning-again", { inMs: delayMs });
    this.#setState("provisioning", error.code);
    // The same key pair asks again, for the Device ID it had unless the firmware asks for one.
    const deviceId = this.#options.deviceId ?? previousDeviceId;
    this.#reprovisionTimer = this.#options.clock.setTimer(delayMs, () => {
      this.#reprovisionTimer = undefined;
      if (this.#state === "provisioning") this.#provision({ version: 1, keyPair }, deviceId);
    });
  }
}
