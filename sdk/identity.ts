/**
 * The device's stored record: key pair, pending provisioning operation, registration. Kept as one
 * compact JSON record (binary as base64url) in a RecordStore, so one atomic write moves the device
 * from one consistent state to the next (docs/protocol.md 1d). A record that does not validate reads as
 * none: a corrupt flash page must not crash the device or be half-trusted.
 */
import { base64urlDecode, base64urlEncode } from "./crypto/base64url";
import type { DeviceKeyPair } from "./crypto/device-key";
import { silentLog, type Log, type RecordStore } from "./ports";
import { encodeJson, numberField, parseJsonObject, stringField, type JsonObject } from "./json";

const deviceIdPattern = /^[0-9A-Za-z_.-]{4,90}$/;
/** Workspace IDs go into topic names: the same safe characters as Device IDs. */
const workspaceIdPattern = /^[0-9A-Za-z_.-]{1,64}$/;

export function isDeviceId(value: unknown): value is string {
  return typeof value === "string" && deviceIdPattern.test(value);
}

export function isWorkspaceId(value: unknown): value is string {
  return typeof value === "string" && workspaceIdPattern.test(value);
}

/** Longest operation ID or registration token the device accepts and stores. */
export const maxOperationIdLength = 128;
export const maxTokenLength = 1024;
/** Moddable's `preference` strings hold at most 4000 bytes. */
const maxRecordBytes = 4000;

export interface PendingOperation {
  /** Absent until the platform has answered the first init of this operation. */
  operationId?: string;
  /** Secret until the reveal; a fresh one for every operation. */
  deviceNonce: Uint8Array;
}

export interface Registration {
  workspaceId: string;
  deviceId: string;
  token: string;
  /**
   * Lifetime of the token in seconds when issued (docs/protocol.md 1c `expiresIn`). No time of issue is
   * kept: a tick means nothing after a reboot (an ESP32 counts from 0 again, Moddable's simulator
   * counts epoch milliseconds), and the session asks the platform for the time left once connected.
   */
  lifetime: number;
}

export interface DeviceIdentity {
  version: 1;
  keyPair: DeviceKeyPair;
  pending?: PendingOperation;
  registration?: Registration;
}

export function encodeIdentity(identity: DeviceIdentity): Uint8Array {
  const record: JsonObject = {
    v: 1,
    pk: base64urlEncode(identity.keyPair.publicKey),
    sk: base64urlEncode(identity.keyPair.secretKey),
  };
  const { pending, registration } = identity;
  if (pending) record.op = { id: pending.operationId, n: base64urlEncode(pending.deviceNonce) };
  if (registration)
    record.reg = {
      ws: registration.workspaceId,
      dev: registration.deviceId,
      tok: registration.token,
      life: registration.lifetime,
    };
  return encodeJson(record);
}

/** Records written before 0.2 also hold `reg.at`, a tick: not read (it failed the int32 check on the simulator). */
const recordKeys = Object.freeze(["v", "pk", "sk", "op", "id", "n", "reg", "ws", "dev", "tok", "life"]);

function bytesField(object: JsonObject, key: string, length: number): Uint8Array | undefined {
  const text = stringField(object, key, 64);
  const bytes = text === undefined ? undefined : base64urlDecode(text);
  return bytes && bytes.length === length ? bytes : undefined;
}

function objectField(object: JsonObject, key: string): JsonObject | undefined {
  const value = object[key];
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

/** The identity in `bytes`, or undefined when the record is missing a part or any part is invalid. */
export function decodeIdentity(bytes: Uint8Array): DeviceIdentity | undefined {
  const record = parseJsonObject(bytes, recordKeys, maxRecordBytes);
  if (!record || record.v !== 1) return undefined;
  const publicKey = bytesField(record, "pk", 32);
  const secretKey = bytesField(record, "sk", 32);
  if (!publicKey || !secretKey) return undefined;
  const identity: DeviceIdentity = { version: 1, keyPair: { publicKey, secretKey } };
  if (record.op !== undefined) {
    const op = objectField(record, "op");
    const deviceNonce = op && bytesField(op, "n", 16);
    if (!op || !deviceNonce) return undefined;
    const operationId = stringField(op, "id", maxOperationIdLength);
    if (op.id !== undefined && operationId === undefined) return undefined;
    identity.pending = operationId === undefined ? { deviceNonce } : { operationId, deviceNonce };
  }
  if (record.reg !== undefined) {
    const reg = objectField(record, "reg");
    if (!reg) return undefined;
    const token = stringField(reg, "tok", maxTokenLength);
    const lifetime = numberField(reg, "life", 0, 0x7fffffff);
    if (!isWorkspaceId(reg.ws) || !isDeviceId(reg.dev) || token === undefined || lifetime === undefined)
      return undefined;
    identity.registration = { workspaceId: reg.ws, deviceId: reg.dev, token, lifetime };
  }
  return identity;
}

/** The stored identity, or undefined when there is none or it is corrupt. */
export function loadIdentity(store: RecordStore): DeviceIdentity | undefined {
  const bytes = store.read();
  return bytes ? decodeIdentity(bytes) : undefined;
}

/** Writes the identity atomically; throws (leaving the old record) when the store cannot. */
export function saveIdentity(store: RecordStore, identity: DeviceIdentity): void {
  store.write(encodeIdentity(identity));
}

/**
 * The one writer of the device's record. The provisioner and the registered session never touch
 * the store: they hand the next identity (or registration) to their owner, the device client,
 * which writes it here. A failed write is logged and leaves the old record in place.
 */
export class IdentityStore {
  private readonly _store: RecordStore;
  private readonly _log: Log;

  constructor(store: RecordStore, log: Log = silentLog) {
    this._store = store;
    this._log = log;
  }

  /** The stored identity, or undefined when there is none or it is corrupt. */
  load(): DeviceIdentity | undefined {
    return loadIdentity(this._store);
  }

  /** Writes `identity` atomically; false (logged, the old record kept) when the store cannot. */
  save(identity: DeviceIdentity): boolean {
    try {
      saveIdentity(this._store, identity);
      return true;
    } catch (e) {
      this._log.write("error", "store-failed", { reason: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }
}
