/**
 * The API a firmware author uses: give it the ports, a store and the provisioning token; it
 * reuses the stored registration, or provisions the device (showing the verification code through
 * `onDisplay`) and then connects the registered session.
 */
import { generateDeviceKeyPair, useRandom } from "./crypto/device-key";
import { isDeviceId, loadIdentity, saveIdentity, type DeviceIdentity, type Registration } from "./identity";
import type { MqttClientState } from "./mqtt/client";
import { silentLog, type Clock, type Log, type Random, type RecordStore, type Transport } from "./ports";
import { Provisioner, type OperationDisplay, type ProvisioningError, type ProvisioningState } from "./provisioning/provisioner";
import { RegisteredSession, type RegistrationError } from "./registration/session";

/**
 * provisioning: talking to the provisioning service; awaiting-approval: the code is shown and the
 * technician has not decided yet; connecting / connected: the registered session; failed: see
 * the detail (a ProvisioningError or RegistrationError code).
 */
export type DeviceClientState = "stopped" | "provisioning" | "awaiting-approval" | "connecting" | "connected" | "failed";

export interface DeviceClientOptions {
  provisioningToken: string;
  /** Requested Device ID (`^[0-9A-Za-z_.-]{4,90}$`); the technician or the token may set another. */
  deviceId?: string;
  /** Shown to the technician: at most 16 string values of at most 64 characters. */
  attributes?: Record<string, string>;
  transport: Transport;
  clock: Clock;
  random: Random;
  log?: Log;
  store: RecordStore;
  onDisplay(operation: OperationDisplay): void;
  onStateChange?(state: DeviceClientState, detail?: string): void;
}

export class DeviceClientError extends Error {
  readonly code: "invalid-device-id" | "invalid-attributes" | "not-registered";
  constructor(code: DeviceClientError["code"], message: string) {
    super(message);
    this.name = "DeviceClientError";
    this.code = code;
  }
}

function checkAttributes(attributes: Record<string, string>): boolean {
  const keys = Object.keys(attributes);
  return keys.length <= 16 && keys.every((key) => key.length <= 64 && typeof attributes[key] === "string" && attributes[key].length <= 64);
}

export class DeviceClient {
  #options: DeviceClientOptions;
  #log: Log;
  #state: DeviceClientState = "stopped";
  #provisioner: Provisioner | undefined;
  #session: RegisteredSession | undefined;
  #registration: Registration | undefined;

  /** Throws DeviceClientError for an invalid Device ID or attributes: those are firmware bugs. */
  constructor(options: DeviceClientOptions) {
    if (options.deviceId !== undefined && !isDeviceId(options.deviceId))
      throw new DeviceClientError("invalid-device-id", "a Device ID is 4-90 characters of 0-9 A-Z a-z _ . -");
    if (options.attributes && !checkAttributes(options.attributes))
      throw new DeviceClientError("invalid-attributes", "attributes are at most 16 string values of at most 64 characters");
    this.#options = options;
    this.#log = options.log ?? silentLog;
  }

  get state(): DeviceClientState {
    return this.#state;
  }

  /** Known once registered (from the store or from the approval). */
  get deviceId(): string | undefined {
    return this.#registration?.deviceId;
  }

  get workspaceId(): string | undefined {
    return this.#registration?.workspaceId;
  }

  start(): void {
    if (this.#state !== "stopped" && this.#state !== "failed") return;
    const options = this.#options;
    useRandom(options.random);
    let identity = loadIdentity(options.store);
    if (!identity) {
      identity = { version: 1, keyPair: generateDeviceKeyPair() };
      try {
        saveIdentity(options.store, identity);
      } catch (e) {
        this.#log.write("error", "store-failed", { reason: e instanceof Error ? e.message : String(e) });
      }
    }
    if (identity.registration) this.#connect(identity.registration);
    else this.#provision(identity);
  }

  stop(): void {
    const provisioner = this.#provisioner;
    const session = this.#session;
    this.#provisioner = undefined;
    this.#session = undefined;
    provisioner?.stop();
    session?.stop();
    this.#setState("stopped");
  }

  /** Resolves once the platform has stored the message (PUBACK). */
  send(stream: string, payload: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const session = this.#session;
      if (!session) reject(new DeviceClientError("not-registered", "the device is not registered yet"));
      else session.send(stream, payload, (error) => (error ? reject(error) : resolve()));
    });
  }

  #setState(state: DeviceClientState, detail?: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#log.write("info", "device-state", { state, detail });
    this.#options.onStateChange?.(state, detail);
  }

  #provision(identity: DeviceIdentity): void {
    const options = this.#options;
    const provisioner = new Provisioner({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      provisioningToken: options.provisioningToken,
      identity,
      store: options.store,
      deviceId: options.deviceId,
      attributes: options.attributes,
      onDisplay: (operation) => options.onDisplay(operation),
      onStateChange: (state: ProvisioningState) => {
        if (this.#provisioner !== provisioner) return;
        if (state === "connecting" || state === "initializing") this.#setState("provisioning");
        else if (state === "pending") this.#setState("awaiting-approval");
      },
      onRegistered: (registered) => {
        if (this.#provisioner !== provisioner || !registered.registration) return;
        this.#provisioner = undefined;
        this.#connect(registered.registration);
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

  #connect(registration: Registration): void {
    const options = this.#options;
    this.#registration = registration;
    const session = new RegisteredSession({
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      log: options.log,
      registration,
      onStateChange: (state: MqttClientState) => {
        if (this.#session !== session || state === "stopped") return;
        this.#setState(state === "connected" ? "connected" : "connecting");
      },
      onRejected: (error: RegistrationError) => {
        if (this.#session !== session) return;
        this.#session = undefined;
        this.#setState("failed", error.code);
      },
    });
    this.#session = session;
    this.#setState("connecting");
    session.start();
  }
}
