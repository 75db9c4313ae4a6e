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
import type { Db, Sql } from "./store";

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

  /** Registers (or re-registers, with its new key) a device and issues its first token, within the caller's transaction. */
  async register(
    tx: Sql,
    op: { workspaceId: string; deviceId: string; publicKey: Buffer; attributes: string; operationId: string },
    lifetimeS: number,
  ): Promise<string> {
    const now = this.#now();
    await tx.run(
      `INSERT INTO devices (workspace_id, device_id, public_key, attributes, operation_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, device_id) DO UPDATE SET
         public_key = excluded.public_key, attributes = excluded.attributes, operation_id = excluded.operation_id,
         revoked_at = NULL`,
      op.workspaceId,
      op.deviceId,
      op.publicKey,
      op.attributes,
      op.operationId,
      now,
    );
    // A device provisioned again starts over: whatever it held before stops working, and the
    // message ids it used before are not its resends (message-batch.ts looks only past this mark).
    await tx.run(
      "UPDATE registration_tokens SET revoked = 1 WHERE workspace_id = ? AND device_id = ?",
      op.workspaceId,
      op.deviceId,
    );
    await tx.run(
      `UPDATE devices SET messages_after = (SELECT COALESCE(MAX(id), 0) FROM messages)
       WHERE workspace_id = ? AND device_id = ?`,
      op.workspaceId,
      op.deviceId,
    );
    return this.#issue(tx, op.workspaceId, op.deviceId, now, lifetimeS * 1000);
  }

  async #issue(tx: Sql, workspaceId: string, deviceId: string, now: number, lifetimeMs: number): Promise<string> {
    const tokenId = randomId("rtk_", 12);
    await tx.run(
      `INSERT INTO registration_tokens (id, workspace_id, device_id, token_hash, issued_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
      tokenId,
      workspaceId,
      deviceId,
      hashToken(this.tokenFor(tokenId)),
      now,
      now + lifetimeMs,
    );
    return tokenId;
  }

  /**
   * The public key a device ID is held with in a workspace. A revoked device holds its ID no
   * more: the technician who approves a new operation decides who gets it (docs/protocol.md 2c).
   */
  async registeredKey(workspaceId: string, deviceId: string, sql: Sql = this.#db): Promise<Buffer | undefined> {
    const row = await sql.get<{ public_key: Buffer }>(
      "SELECT public_key FROM devices WHERE workspace_id = ? AND device_id = ? AND revoked_at IS NULL",
      workspaceId,
      deviceId,
    );
    return row?.public_key;
  }

  /** The platform-clock time (ms) at which a token stops being valid; 0 when revoked or unknown. */
  async validUntil(tokenId: string, sql: Sql = this.#db): Promise<number> {
    const row = await this.#tokenRow(sql, tokenId);
    return row ? validUntil(row) : 0;
  }

  /** validUntil of many tokens in a few queries: the broker checks every live session each second. */
  async validUntilEach(tokenIds: readonly string[]): Promise<Map<string, number>> {
    const until = new Map<string, number>();
    for (let i = 0; i < tokenIds.length; i += 500) {
      const ids = tokenIds.slice(i, i + 500);
      const rows = await this.#db.all<TokenRow>(
        `SELECT * FROM registration_tokens WHERE id IN (${ids.map(() => "?").join(", ")})`,
        ...ids,
      );
      for (const row of rows) until.set(row.id, validUntil(row));
    }
    return until;
  }

  async expiresIn(tokenId: string, sql: Sql = this.#db): Promise<number> {
    return secondsUntil(await this.validUntil(tokenId, sql), this.#now());
  }

  /**
   * Issues a new token sealed to the key recorded at approval, so only the device can read it
   * (a stolen token refreshes into nothing usable). The session's token stays valid for
   * `graceS`. A refresh repeated before the new token is used replaces that unused token,
   * and never extends the grace of older ones, so tokens do not pile up.
   */
  refresh(session: DeviceSession, graceS: number): Promise<Refreshed> {
    const now = this.#now();
    return this.#db.transaction(async (tx): Promise<Refreshed> => {
      const current = await this.#tokenRow(tx, session.tokenId);
      if (!current || now >= validUntil(current)) {
        throw new PlatformError(403, "registration-rejected", "this session's token is no longer valid");
      }
      const device = (await tx.get<{ public_key: Buffer }>(
        "SELECT public_key FROM devices WHERE workspace_id = ? AND device_id = ?",
        session.workspaceId,
        session.deviceId,
      ))!;
      await tx.run(
        `DELETE FROM registration_tokens
         WHERE workspace_id = ? AND device_id = ? AND first_used_at IS NULL AND revoked = 0 AND id != ?`,
        session.workspaceId,
        session.deviceId,
        current.id,
      );
      const tokenId = await this.#issue(
        tx,
        session.workspaceId,
        session.deviceId,
        now,
        current.expires_at - current.issued_at,
      );
      await tx.run(
        `UPDATE registration_tokens SET replaced_by = ?, grace_until = COALESCE(grace_until, ?)
         WHERE workspace_id = ? AND device_id = ? AND revoked = 0 AND (id = ? OR replaced_by IS NOT NULL)`,
        tokenId,
        now + graceS * 1000,
        session.workspaceId,
        session.deviceId,
        current.id,
      );
      return {
        registration: sealToken(this.tokenFor(tokenId), device.public_key),
        expiresIn: await this.expiresIn(tokenId, tx),
        graceIn: await this.expiresIn(current.id, tx),
      };
    });
  }

  /** Checks a registered CONNECT: a session, or the CONNACK return code to refuse it with. */
  async authenticate(clientId: string, username: string, password: string): Promise<DeviceSession | number> {
    if (username !== clientId) return BAD_USERNAME_OR_PASSWORD;
    const row = await this.#db.get<TokenRow>(
      "SELECT * FROM registration_tokens WHERE token_hash = ?",
      hashToken(password),
    );
    if (!row || `${row.workspace_id}:${row.device_id}` !== clientId) return BAD_USERNAME_OR_PASSWORD;
    if (this.#now() >= validUntil(row)) return NOT_AUTHORIZED;
    return { workspaceId: row.workspace_id, deviceId: row.device_id, tokenId: row.id };
  }

  /**
   * Records a registered session's start: the operation that issued the token is now consumed,
   * and the tokens this one replaced end their grace now.
   */
  connected(session: DeviceSession): Promise<void> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const firstUse = await tx.run(
        "UPDATE registration_tokens SET first_used_at = ? WHERE id = ? AND first_used_at IS NULL",
        now,
        session.tokenId,
      );
      if (firstUse) {
        await tx.run(
          "UPDATE registration_tokens SET grace_until = CASE WHEN grace_until < ? THEN grace_until ELSE ? END WHERE replaced_by = ?",
          now,
          now,
          session.tokenId,
        );
      }
      await tx.run(
        "UPDATE operations SET state = 'consumed' WHERE registration_token_id = ? AND state = 'approved'",
        session.tokenId,
      );
      await tx.run(
        "UPDATE devices SET last_seen_at = ? WHERE workspace_id = ? AND device_id = ?",
        now,
        session.workspaceId,
        session.deviceId,
      );
    });
  }

  /**
   * Revokes every token of a device at once; an approval it has not fetched yet is withdrawn.
   * The caller closes its session. The device may provision again (a technician approves).
   */
  async revokeDevice(workspaceId: string, deviceId: string): Promise<DeviceInfo> {
    const now = this.#now();
    await this.#db.transaction(async (tx) => {
      await this.#withdraw(tx, workspaceId, deviceId);
      await tx.run(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE workspace_id = ? AND device_id = ?",
        now,
        workspaceId,
        deviceId,
      );
    });
    return (await this.#device(this.#db, workspaceId, deviceId))!;
  }

  /** Removes a device and its tokens (its messages stay); its Device ID is free again. */
  deleteDevice(workspaceId: string, deviceId: string): Promise<DeviceInfo> {
    return this.#db.transaction(async (tx) => {
      const info = await this.#withdraw(tx, workspaceId, deviceId);
      for (const table of ["registration_tokens", "devices"])
        await tx.run(`DELETE FROM ${table} WHERE workspace_id = ? AND device_id = ?`, workspaceId, deviceId);
      return info;
    });
  }

  /** Revokes the device's tokens and withdraws an approval it has not fetched; the device as it was. */
  async #withdraw(tx: Sql, workspaceId: string, deviceId: string): Promise<DeviceInfo> {
    const info = await this.#device(tx, workspaceId, deviceId);
    if (!info) throw new PlatformError(404, "unknown-device", `no device ${deviceId} in workspace ${workspaceId}`);
    await tx.run(
      "UPDATE registration_tokens SET revoked = 1 WHERE workspace_id = ? AND device_id = ?",
      workspaceId,
      deviceId,
    );
    await tx.run(
      `UPDATE operations SET state = 'rejected', reason = 'revoked', decided_at = ?
       WHERE workspace_id = ? AND device_id = ? AND state = 'approved'`,
      this.#now(),
      workspaceId,
      deviceId,
    );
    return info;
  }

  #tokenRow(sql: Sql, tokenId: string): Promise<TokenRow | undefined> {
    return sql.get<TokenRow>("SELECT * FROM registration_tokens WHERE id = ?", tokenId);
  }

  /** In the order they were first registered. */
  async listDevices(page: PageQuery): Promise<Page<DeviceInfo>> {
    const rows = await this.#db.all<DeviceRow & { cursor: number }>(
      `${DEVICE_SELECT} WHERE d.rowid > ? ORDER BY d.rowid LIMIT ?`,
      page.after ?? 0,
      page.limit + 1,
    );
    return toPage(rows, page.limit, deviceInfo);
  }

  async #device(sql: Sql, workspaceId: string, deviceId: string): Promise<DeviceInfo | undefined> {
    const row = await sql.get<DeviceRow>(
      `${DEVICE_SELECT} WHERE d.workspace_id = ? AND d.device_id = ?`,
      workspaceId,
      deviceId,
    );
    return row && deviceInfo(row);
  }
}
