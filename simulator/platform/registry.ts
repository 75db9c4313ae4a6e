/**
 * Registered devices and their registration tokens (status, refresh with grace, revocation,
 * deletion; docs/protocol.md 2b and 2c). Their messages are written by message-writer.ts and
 * read by messages.ts.
 *
 * A registration token is `"rt_" + base64url(HMAC-SHA256(secret, tokenId))`: the database holds
 * only its SHA-256 hash, yet the platform can seal the same token again for an idempotent
 * `complete` (docs/protocol.md 1c) without keeping it anywhere. The secret lives in the data directory.
 */
import { isoTime } from "./iso-time";
import { createHmac } from "node:crypto";
import { PlatformError } from "./errors";
import { hashToken, randomId, sealToken, secondsUntil, type SealedRegistration } from "./protocol";
import { toPage, type Page, type PageQuery } from "./paging";
import type { Db } from "./store";

export const MAX_MESSAGE_BYTES = 256 * 1024;

export interface DeviceSession {
  workspaceId: string;
  deviceId: string;
  tokenId: string;
}

export interface DeviceInfo {
  workspaceId: string;
  deviceId: string;
  publicKey: string;
  attributes: Record<string, string>;
  createdAt: string;
  lastSeenAt: string | null;
  /** Set once a technician revoked the device; provisioning it again clears it. */
  revokedAt: string | null;
  /** When its newest registration token expires (it refreshes before). */
  tokenExpiresAt: string | null;
  /** Bytes of its messages the platform keeps (within the per-device quota). */
  storedBytes: number;
  /** How many of its messages the platform keeps. */
  storedMessages: number;
}

/** The `refresh` reply's fields (docs/protocol.md 2b). */
export interface Refreshed {
  registration: SealedRegistration;
  expiresIn: number;
  graceIn: number;
}

interface TokenRow {
  id: string;
  workspace_id: string;
  device_id: string;
  issued_at: number;
  expires_at: number;
  first_used_at: number | null;
  grace_until: number | null;
  replaced_by: string | null;
  revoked: number;
}

/** CONNACK return codes of MQTT 3.1.1 used by the platform. */
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

/**
 * When a token stops opening sessions: at expiry, or at the end of its grace once a refresh
 * replaced it (the grace ends early when the device first connects with the new token).
 */
function validUntil(row: TokenRow): number {
  if (row.revoked) return 0;
  return row.replaced_by === null ? row.expires_at : Math.min(row.expires_at, row.grace_until ?? 0);
}

interface DeviceRow {
  workspace_id: string;
  device_id: string;
  public_key: Buffer;
  attributes: string;
  created_at: number;
  last_seen_at: number | null;
  revoked_at: number | null;
  /** The newest registration token's expiry (a refresh issues a newer one). */
  token_expires_at: number | null;
  stored_bytes: number | null;
  stored_messages: number | null;
}

/** A device with its newest token's expiry and the bytes of its stored messages. */
const DEVICE_SELECT = `SELECT d.rowid AS cursor, d.*,
    (SELECT MAX(expires_at) FROM registration_tokens r
      WHERE r.workspace_id = d.workspace_id AND r.device_id = d.device_id AND r.revoked = 0) AS token_expires_at,
    s.bytes AS stored_bytes, s.messages AS stored_messages
  FROM devices d LEFT JOIN device_storage s ON s.workspace_id = d.workspace_id AND s.device_id = d.device_id`;

function deviceInfo(row: DeviceRow): DeviceInfo {
  return {
    workspaceId: row.workspace_id,
    deviceId: row.device_id,
    publicKey: row.public_key.toString("base64url"),
    attributes: JSON.parse(row.attributes) as Record<string, string>,
    createdAt: isoTime(row.created_at)!,
    lastSeenAt: isoTime(row.last_seen_at),
    revokedAt: isoTime(row.revoked_at),
    tokenExpiresAt: isoTime(row.token_expires_at),
    storedBytes: row.stored_bytes ?? 0,
    storedMessages: row.stored_messages ?? 0,
  };
}

export class Registry {
  readonly #db: Db;
  readonly #secret: Buffer;
  readonly #now: () => number;

  constructor(db: Db, secret: Buffer, now: () => number) {
    this.#db = db;
    this.#secret = secret;
    this.#now = now;
  }

  tokenFor(tokenId: string): string {
    return "rt_" + createHmac("sha256", this.#secret).update(tokenId, "utf8").digest("base64url");
  }

  /** Registers (or re-registers, with its new key) a device and issues its first token. Call in a transaction. */
  register(
    op: { workspaceId: string; deviceId: string; publicKey: Buffer; attributes: string; operationId: string },
    lifetimeS: number,
  ): string {
    const now = this.#now();
    this.#db
      .prepare(
        `INSERT INTO devices (workspace_id, device_id, public_key, attributes, operation_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, device_id) DO UPDATE SET
           public_key = excluded.public_key, attributes = excluded.attributes, operation_id = excluded.operation_id,
           revoked_at = NULL`,
      )
      .run(op.workspaceId, op.deviceId, op.publicKey, op.attributes, op.operationId, now);
    // A device provisioned again starts over: whatever it held before stops working, and the
    // message ids it used before are not its resends.
    this.#db
      .prepare("UPDATE registration_tokens SET revoked = 1 WHERE workspace_id = ? AND device_id = ?")
      .run(op.workspaceId, op.deviceId);
    this.#db
      .prepare("DELETE FROM device_message_ids WHERE workspace_id = ? AND device_id = ?")
      .run(op.workspaceId, op.deviceId);
    return this.#issue(op.workspaceId, op.deviceId, now, lifetimeS * 1000);
  }

  #issue(workspaceId: string, deviceId: string, now: number, lifetimeMs: number): string {
    const tokenId = randomId("rtk_", 12);
    this.#db
      .prepare(
        `INSERT INTO registration_tokens (id, workspace_id, device_id, token_hash, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(tokenId, workspaceId, deviceId, hashToken(this.tokenFor(tokenId)), now, now + lifetimeMs);
    return tokenId;
  }

  /**
   * The public key a device ID is held with in a workspace. A revoked device holds its ID no
   * more: the technician who approves a new operation decides who gets it (docs/protocol.md 2c).
   */
  registeredKey(workspaceId: string, deviceId: string): Buffer | undefined {
    const row = this.#db
      .prepare("SELECT public_key FROM devices WHERE workspace_id = ? AND device_id = ? AND revoked_at IS NULL")
      .get(workspaceId, deviceId) as { public_key: Buffer } | undefined;
    return row?.public_key;
  }

  /** The platform-clock time (ms) at which a token stops being valid; 0 when revoked or unknown. */
  validUntil(tokenId: string): number {
    const row = this.#tokenRow(tokenId);
    return row ? validUntil(row) : 0;
  }

  expiresIn(tokenId: string): number {
    return secondsUntil(this.validUntil(tokenId), this.#now());
  }

  /**
   * Issues a new token sealed to the key recorded at approval, so only the device can read it
   * (a stolen token refreshes into nothing usable). The session's token stays valid for
   * `graceS`. A refresh repeated before the new token is used replaces that unused token,
   * and never extends the grace of older ones, so tokens do not pile up.
   */
  refresh(session: DeviceSession, graceS: number): Refreshed {
    const now = this.#now();
    return this.#db.transaction((): Refreshed => {
      const current = this.#tokenRow(session.tokenId);
      if (!current || now >= validUntil(current)) {
        throw new PlatformError(403, "registration-rejected", "this session's token is no longer valid");
      }
      const device = this.#db
        .prepare("SELECT public_key FROM devices WHERE workspace_id = ? AND device_id = ?")
        .get(session.workspaceId, session.deviceId) as { public_key: Buffer };
      this.#db
        .prepare(
          `DELETE FROM registration_tokens
           WHERE workspace_id = ? AND device_id = ? AND first_used_at IS NULL AND revoked = 0 AND id != ?`,
        )
        .run(session.workspaceId, session.deviceId, current.id);
      const tokenId = this.#issue(session.workspaceId, session.deviceId, now, current.expires_at - current.issued_at);
      this.#db
        .prepare(
          `UPDATE registration_tokens SET replaced_by = @tokenId, grace_until = COALESCE(grace_until, @graceUntil)
           WHERE workspace_id = @workspaceId AND device_id = @deviceId AND revoked = 0
             AND (id = @current OR replaced_by IS NOT NULL)`,
        )
        .run({
          tokenId,
          graceUntil: now + graceS * 1000,
          workspaceId: session.workspaceId,
          deviceId: session.deviceId,
          current: current.id,
        });
      return {
        registration: sealToken(this.tokenFor(tokenId), device.public_key),
        expiresIn: this.expiresIn(tokenId),
        graceIn: this.expiresIn(current.id),
      };
    })();
  }

  /** Checks a registered CONNECT: a session, or the CONNACK return code to refuse it with. */
  authenticate(clientId: string, username: string, password: string): DeviceSession | number {
    if (username !== clientId) return BAD_USERNAME_OR_PASSWORD;
    const row = this.#db.prepare("SELECT * FROM registration_tokens WHERE token_hash = ?").get(hashToken(password)) as
      TokenRow | undefined;
    if (!row || `${row.workspace_id}:${row.device_id}` !== clientId) return BAD_USERNAME_OR_PASSWORD;
    if (this.#now() >= validUntil(row)) return NOT_AUTHORIZED;
    return { workspaceId: row.workspace_id, deviceId: row.device_id, tokenId: row.id };
  }

  /**
   * Records a registered session's start: the operation that issued the token is now consumed,
   * and the tokens this one replaced end their grace now.
   */
  connected(session: DeviceSession): void {
    const now = this.#now();
    this.#db.transaction(() => {
      const firstUse = this.#db
        .prepare("UPDATE registration_tokens SET first_used_at = ? WHERE id = ? AND first_used_at IS NULL")
        .run(now, session.tokenId).changes;
      if (firstUse) {
        this.#db
          .prepare("UPDATE registration_tokens SET grace_until = MIN(grace_until, ?) WHERE replaced_by = ?")
          .run(now, session.tokenId);
      }
      this.#db
        .prepare("UPDATE operations SET state = 'consumed' WHERE registration_token_id = ? AND state = 'approved'")
        .run(session.tokenId);
      this.#touch(session, now);
    })();
  }

  /**
   * Revokes every token of a device at once; an approval it has not fetched yet is withdrawn.
   * The caller closes its session. The device may provision again (a technician approves).
   */
  revokeDevice(workspaceId: string, deviceId: string): DeviceInfo {
    const now = this.#now();
    this.#db.transaction(() => {
      this.#withdraw(workspaceId, deviceId);
      this.#db
        .prepare("UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE workspace_id = ? AND device_id = ?")
        .run(now, workspaceId, deviceId);
    })();
    return this.#device(workspaceId, deviceId)!;
  }

  /** Removes a device and its tokens (its messages stay); its Device ID is free again. */
  deleteDevice(workspaceId: string, deviceId: string): DeviceInfo {
    const info = this.#device(workspaceId, deviceId);
    this.#db.transaction(() => {
      this.#withdraw(workspaceId, deviceId);
      this.#db
        .prepare("DELETE FROM registration_tokens WHERE workspace_id = ? AND device_id = ?")
        .run(workspaceId, deviceId);
      this.#db
        .prepare("DELETE FROM device_message_ids WHERE workspace_id = ? AND device_id = ?")
        .run(workspaceId, deviceId);
      this.#db.prepare("DELETE FROM devices WHERE workspace_id = ? AND device_id = ?").run(workspaceId, deviceId);
    })();
    return info!;
  }

  #withdraw(workspaceId: string, deviceId: string): void {
    if (!this.#device(workspaceId, deviceId)) {
      throw new PlatformError(404, "unknown-device", `no device ${deviceId} in workspace ${workspaceId}`);
    }
    this.#db
      .prepare("UPDATE registration_tokens SET revoked = 1 WHERE workspace_id = ? AND device_id = ?")
      .run(workspaceId, deviceId);
    this.#db
      .prepare(
        `UPDATE operations SET state = 'rejected', reason = 'revoked', decided_at = ?
         WHERE workspace_id = ? AND device_id = ? AND state = 'approved'`,
      )
      .run(this.#now(), workspaceId, deviceId);
  }

  #tokenRow(tokenId: string): TokenRow | undefined {
    return this.#db.prepare("SELECT * FROM registration_tokens WHERE id = ?").get(tokenId) as TokenRow | undefined;
  }

  #touch(session: DeviceSession, now: number): void {
    this.#db
      .prepare("UPDATE devices SET last_seen_at = ? WHERE workspace_id = ? AND device_id = ?")
      .run(now, session.workspaceId, session.deviceId);
  }

  /** In the order they were first registered. */
  listDevices(page: PageQuery): Page<DeviceInfo> {
    const rows = this.#db
      .prepare(`${DEVICE_SELECT} WHERE d.rowid > ? ORDER BY d.rowid LIMIT ?`)
      .all(page.after ?? 0, page.limit + 1) as (DeviceRow & { cursor: number })[];
    return toPage(rows, page.limit, deviceInfo);
  }

  #device(workspaceId: string, deviceId: string): DeviceInfo | undefined {
    const row = this.#db
      .prepare(`${DEVICE_SELECT} WHERE d.workspace_id = ? AND d.device_id = ?`)
      .get(workspaceId, deviceId) as DeviceRow | undefined;
    return row && deviceInfo(row);
  }
}
