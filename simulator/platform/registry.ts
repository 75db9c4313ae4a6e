/**
 * Registered devices: their registration tokens, the token status request, and their messages.
 *
 * A registration token is `"rt_" + base64url(HMAC-SHA256(secret, tokenId))`: the database holds
 * only its SHA-256 hash, yet the platform can seal the same token again for an idempotent
 * `complete` (PROTOCOL 1c) without keeping it anywhere. The secret lives in the data directory.
 */
import { createHmac } from "node:crypto";
import { PlatformError } from "./errors";
import { hashToken, randomId, secondsUntil } from "./protocol";
import type { Db } from "./store";

export const MAX_MESSAGE_BYTES = 256 * 1024;

export interface RegisteredSession {
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
}

export interface MessageInfo {
  id: number;
  workspaceId: string;
  deviceId: string;
  stream: string;
  payloadBase64: string;
  size: number;
  receivedAt: string;
}

export interface MessageQuery {
  deviceId?: string;
  stream?: string;
  limit?: number;
}

interface TokenRow {
  id: string;
  workspace_id: string;
  device_id: string;
  expires_at: number;
  first_used_at: number | null;
  grace_until: number | null;
  replaced_by: string | null;
  revoked: number;
}

/** CONNACK return codes of MQTT 3.1.1 used by the platform. */
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class Registry {
  constructor(
    private readonly db: Db,
    private readonly secret: Buffer,
    private readonly now: () => number,
  ) {}

  tokenFor(tokenId: string): string {
    return "rt_" + createHmac("sha256", this.secret).update(tokenId, "utf8").digest("base64url");
  }

  /** Registers (or re-registers, with its new key) a device and issues its first token. Call in a transaction. */
  register(op: { workspaceId: string; deviceId: string; publicKey: Buffer; attributes: string; operationId: string }, lifetimeS: number): string {
    const now = this.now();
    this.db
      .prepare(
        `INSERT INTO devices (workspace_id, device_id, public_key, attributes, operation_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, device_id) DO UPDATE SET
           public_key = excluded.public_key, attributes = excluded.attributes, operation_id = excluded.operation_id`,
      )
      .run(op.workspaceId, op.deviceId, op.publicKey, op.attributes, op.operationId, now);
    // A device provisioned again starts over: whatever it held before stops working.
    this.db
      .prepare("UPDATE registration_tokens SET revoked = 1 WHERE workspace_id = ? AND device_id = ?")
      .run(op.workspaceId, op.deviceId);
    const tokenId = randomId("rtk_", 12);
    this.db
      .prepare(
        `INSERT INTO registration_tokens (id, workspace_id, device_id, token_hash, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(tokenId, op.workspaceId, op.deviceId, hashToken(this.tokenFor(tokenId)), now, now + lifetimeS * 1000);
    return tokenId;
  }

  /** The public key a device ID is registered with in a workspace, if it is registered. */
  registeredKey(workspaceId: string, deviceId: string): Buffer | undefined {
    const row = this.db
      .prepare("SELECT public_key FROM devices WHERE workspace_id = ? AND device_id = ?")
      .get(workspaceId, deviceId) as { public_key: Buffer } | undefined;
    return row?.public_key;
  }

  expiresIn(tokenId: string): number {
    const row = this.db.prepare("SELECT expires_at FROM registration_tokens WHERE id = ?").get(tokenId) as
      | { expires_at: number }
      | undefined;
    return row ? secondsUntil(row.expires_at, this.now()) : 0;
  }

  /** Checks a registered CONNECT: a session, or the CONNACK return code to refuse it with. */
  authenticate(clientId: string, username: string, password: string): RegisteredSession | number {
    if (username !== clientId) return BAD_USERNAME_OR_PASSWORD;
    const row = this.db.prepare("SELECT * FROM registration_tokens WHERE token_hash = ?").get(hashToken(password)) as
      | TokenRow
      | undefined;
    if (!row || `${row.workspace_id}:${row.device_id}` !== clientId) return BAD_USERNAME_OR_PASSWORD;
    const now = this.now();
    const superseded = row.replaced_by !== null && (row.grace_until === null || now >= row.grace_until);
    if (row.revoked || now >= row.expires_at || superseded) return NOT_AUTHORIZED;
    return { workspaceId: row.workspace_id, deviceId: row.device_id, tokenId: row.id };
  }

  /** Records a registered session's start: the operation that issued the token is now consumed. */
  connected(session: RegisteredSession): void {
    const now = this.now();
    this.db.transaction(() => {
      this.db
        .prepare("UPDATE registration_tokens SET first_used_at = ? WHERE id = ? AND first_used_at IS NULL")
        .run(now, session.tokenId);
      this.db
        .prepare("UPDATE operations SET state = 'consumed' WHERE registration_token_id = ? AND state = 'approved'")
        .run(session.tokenId);
      this.touch(session, now);
    })();
  }

  /** Stores a message durably; the caller acknowledges it only after this returns. */
  storeMessage(session: RegisteredSession, stream: string, payload: Buffer): void {
    const now = this.now();
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO messages (workspace_id, device_id, stream, payload, received_at) VALUES (?, ?, ?, ?, ?)")
        .run(session.workspaceId, session.deviceId, stream, payload, now);
      this.touch(session, now);
    })();
  }

  private touch(session: RegisteredSession, now: number): void {
    this.db
      .prepare("UPDATE devices SET last_seen_at = ? WHERE workspace_id = ? AND device_id = ?")
      .run(now, session.workspaceId, session.deviceId);
  }

  listDevices(): DeviceInfo[] {
    const rows = this.db.prepare("SELECT * FROM devices ORDER BY workspace_id, device_id").all() as {
      workspace_id: string;
      device_id: string;
      public_key: Buffer;
      attributes: string;
      created_at: number;
      last_seen_at: number | null;
    }[];
    return rows.map((row) => ({
      workspaceId: row.workspace_id,
      deviceId: row.device_id,
      publicKey: row.public_key.toString("base64url"),
      attributes: JSON.parse(row.attributes) as Record<string, string>,
      createdAt: iso(row.created_at)!,
      lastSeenAt: iso(row.last_seen_at),
    }));
  }

  /** The newest messages first, at most `limit` (default 100, at most 1000). */
  listMessages(query: MessageQuery): MessageInfo[] {
    const limit = query.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw new PlatformError(400, "invalid-request", "limit must be an integer from 1 to 1000");
    }
    const rows = this.db
      .prepare(
        `SELECT * FROM messages
         WHERE (@device IS NULL OR device_id = @device) AND (@stream IS NULL OR stream = @stream)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({ device: query.deviceId ?? null, stream: query.stream ?? null, limit }) as {
      id: number;
      workspace_id: string;
      device_id: string;
      stream: string;
      payload: Buffer;
      received_at: number;
    }[];
    return rows.map((row) => ({
      id: row.id,
      workspaceId: row.workspace_id,
      deviceId: row.device_id,
      stream: row.stream,
      payloadBase64: row.payload.toString("base64"),
      size: row.payload.length,
      receivedAt: iso(row.received_at)!,
    }));
  }
}
