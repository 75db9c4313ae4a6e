/**
 * Provisioning operations (docs/protocol.md 1a-1c): init, complete (reveal and poll), and the
 * technician's approval or rejection, which is pushed to the device.
 */
import { isoTime } from "./iso-time";
import type { OperationEventType, PlatformEvents } from "./events";
import { PlatformError, errorBody } from "./errors";
import {
  checkDeviceId,
  commitmentMatches,
  fromBase64url,
  normalizeVerificationCode,
  provisioningClientId,
  randomId,
  sealToken,
  secondsUntil,
  toBase64url,
  verificationCode,
} from "./protocol";
import { tokenRefusal, type ProvisioningTokens, type TokenRow } from "./provisioning-tokens";
import { RateLimiter } from "./rate-limit";
import type { Registry } from "./registry";
import { toPage, type Page, type PageQuery } from "./paging";
import type { Db, Sql } from "./store";
import { randomBytes } from "node:crypto";

export const OPERATION_LIFETIME_S = 900;
/**
 * Limits on starting operations, checked in this order so that what an attacker holding the
 * fleet's token spends is charged to them first: per address, per client ID, then a cap on the
 * token's pending operations. A device resuming its operation is not counted at all.
 */
export interface InitLimits {
  perAddress: { limit: number; windowMs: number };
  perClient: { limit: number; windowMs: number };
  pendingPerToken: number;
}

export const INIT_LIMITS: InitLimits = {
  perAddress: { limit: 60, windowMs: 60_000 },
  perClient: { limit: 6, windowMs: 60_000 },
  pendingPerToken: 1000,
};
export const POLL_INTERVAL_S = 5;
/** Polls this much earlier than `pollInterval` still pass: network delays vary between two polls. */
const POLL_TOLERANCE_MS = 1000;
const MAX_ATTRIBUTES = 16;
const MAX_ATTRIBUTE_LENGTH = 64;

export type OperationState = "pending" | "approved" | "rejected" | "expired" | "consumed";

/** A reply body (without rid), as sent on `prov/{clientId}/res/...`. */
export type Reply = Record<string, unknown>;

export interface OperationInfo {
  id: string;
  workspaceId: string;
  provisioningTokenId: string;
  state: OperationState;
  /** Pending operations only: false until the device's reveal arrived (approval must wait). */
  revealed: boolean;
  verificationCode: string | null;
  requestedDeviceId: string | null;
  deviceId: string | null;
  attributes: Record<string, string>;
  createdAt: string;
  expiresAt: string;
  reason: string | null;
}

interface OperationRow {
  id: string;
  workspace_id: string;
  provisioning_token_id: string;
  client_id: string;
  public_key: Buffer;
  commitment: Buffer;
  nonce: Buffer;
  device_nonce: Buffer | null;
  verification_code: string | null;
  requested_device_id: string | null;
  device_id: string | null;
  attributes: string;
  state: OperationState;
  reason: string | null;
  poll_interval_s: number;
  last_poll_at: number | null;
  registration_token_id: string | null;
  created_at: number;
  expires_at: number;
}

export interface ProvisioningSession {
  clientId: string;
  provisioningTokenId: string;
  /** The connection's remote address: new operations are limited per address first. */
  address: string;
}

export interface OperationsOptions {
  db: Db;
  tokens: ProvisioningTokens;
  registry: Registry;
  now: () => number;
  /** Called on approval or rejection with the reply to push to the device (`rid: null`). */
  push: (clientId: string, reply: Reply) => void;
  /** Told of every operation created, revealed, approved, rejected or expired. */
  events: PlatformEvents;
  /** Defaults in INIT_LIMITS. */
  initLimits?: Partial<InitLimits>;
}

function validateAttributes(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PlatformError(400, "invalid-request", "attributes must be an object");
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ATTRIBUTES) {
    throw new PlatformError(400, "invalid-request", `at most ${MAX_ATTRIBUTES} attributes`);
  }
  for (const [key, v] of entries) {
    if (
      key.length === 0 ||
      key.length > MAX_ATTRIBUTE_LENGTH ||
      typeof v !== "string" ||
      v.length > MAX_ATTRIBUTE_LENGTH
    ) {
      throw new PlatformError(
        400,
        "invalid-request",
        `attributes are strings of at most ${MAX_ATTRIBUTE_LENGTH} characters`,
      );
    }
  }
  return Object.fromEntries(entries);
}

export class Operations {
  readonly #db: Db;
  readonly #tokens: ProvisioningTokens;
  readonly #registry: Registry;
  readonly #now: () => number;
  readonly #push: OperationsOptions["push"];
  readonly #events: PlatformEvents;
  readonly #initsPerAddress: RateLimiter;
  readonly #initsPerClient: RateLimiter;
  readonly #pendingPerToken: number;

  constructor(options: OperationsOptions) {
    ({
      db: this.#db,
      tokens: this.#tokens,
      registry: this.#registry,
      now: this.#now,
      push: this.#push,
      events: this.#events,
    } = options);
    const now = this.#now;
    const limits = { ...INIT_LIMITS, ...options.initLimits };
    this.#initsPerAddress = new RateLimiter({ ...limits.perAddress, maxKeys: 10_000, now });
    this.#initsPerClient = new RateLimiter({ ...limits.perClient, maxKeys: 10_000, now });
    this.#pendingPerToken = limits.pendingPerToken;
  }

  async init(session: ProvisioningSession, body: Record<string, unknown>): Promise<Reply> {
    const publicKey = fromBase64url(body.publicKey, 32);
    const commitment = fromBase64url(body.commitment, 32);
    if (!publicKey || !commitment) {
      throw new PlatformError(400, "invalid-request", "publicKey and commitment must be base64url of 32 bytes");
    }
    if (provisioningClientId(publicKey) !== session.clientId) {
      throw new PlatformError(400, "invalid-request", "publicKey does not match the client ID");
    }
    const requested = body.deviceId === undefined ? null : checkDeviceId(body.deviceId);
    const attributes = validateAttributes(body.attributes);
    const token = (await this.#tokens.row(session.provisioningTokenId))!;
    const workspace = (await this.#db.get<{ disabled: number }>(
      "SELECT disabled FROM workspaces WHERE id = ?",
      token.workspace_id,
    ))!;
    if (workspace.disabled) throw new PlatformError(423, "workspace-disabled", "the workspace is disabled");

    if (typeof body.operationId === "string") {
      const resumed = await this.#resumable(session, body.operationId, publicKey, commitment);
      if (resumed) return this.#initReply(resumed);
    }
    if (token.device_id !== null && requested !== null && requested !== token.device_id) {
      throw new PlatformError(403, "device-id-not-allowed", "this provisioning token fixes the Device ID");
    }
    const deviceId = token.device_id ?? requested;
    if (deviceId !== null) await this.#checkDeviceIdFree(this.#db, token.workspace_id, deviceId, publicKey);
    for (const [limiter, key] of [
      [this.#initsPerAddress, session.address],
      [this.#initsPerClient, session.clientId],
    ] as const) {
      const retryAfter = limiter.take(key);
      if (retryAfter) throw new PlatformError(429, "rate-limited", "too many operations started", retryAfter);
    }
    const now = this.#now();
    const pending = (await this.#db.get<{ n: number }>(
      "SELECT COUNT(*) AS n FROM operations WHERE provisioning_token_id = ? AND state = 'pending' AND expires_at > ?",
      token.id,
      now,
    ))!;
    if (pending.n >= this.#pendingPerToken)
      throw new PlatformError(
        429,
        "too-many-pending",
        "this provisioning token has too many operations waiting for a technician",
        POLL_INTERVAL_S * 12,
      );

    const id = randomId("op_", 16);
    await this.#db.run(
      `INSERT INTO operations (id, workspace_id, provisioning_token_id, client_id, public_key, commitment,
         nonce, requested_device_id, attributes, state, poll_interval_s, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
      id,
      token.workspace_id,
      token.id,
      session.clientId,
      publicKey,
      commitment,
      randomBytes(16),
      requested,
      JSON.stringify(attributes),
      POLL_INTERVAL_S,
      now,
      now + OPERATION_LIFETIME_S * 1000,
    );
    const created = (await this.#row(id))!;
    this.#announce("operation-created", created);
    return this.#initReply(created);
  }

  async complete(session: ProvisioningSession, body: Record<string, unknown>): Promise<Reply> {
    if (typeof body.operationId !== "string")
      throw new PlatformError(400, "invalid-request", "operationId is required");
    const operationId = body.operationId;
    const deviceNonce = body.deviceNonce === undefined ? undefined : fromBase64url(body.deviceNonce, 16);
    if (body.deviceNonce !== undefined && !deviceNonce) {
      throw this.#withOperation(
        operationId,
        new PlatformError(400, "invalid-request", "deviceNonce must be base64url of 16 bytes"),
      );
    }
    const found = await this.#row(operationId);
    if (!found || found.client_id !== session.clientId) {
      throw this.#withOperation(
        operationId,
        new PlatformError(404, "unknown-operation", "no such operation: start a new one"),
      );
    }
    const op = await this.#expireIfDue(found);
    if (op.state !== "pending" && op.state !== "approved") throw this.#withOperation(op.id, this.#endedError(op));

    const now = this.#now();
    if (deviceNonce) {
      // A wrong reveal is refused and changes nothing: only the device knows the nonce, so it
      // cannot be the device's, and cancelling would let anyone end another device's operation.
      if (!commitmentMatches(op.commitment, op.public_key, deviceNonce)) {
        throw this.#withOperation(
          op.id,
          new PlatformError(400, "commitment-mismatch", "the reveal does not match the commitment"),
        );
      }
      if (!op.device_nonce) {
        const code = verificationCode(op.public_key, deviceNonce, op.nonce, op.id);
        await this.#db.run(
          "UPDATE operations SET device_nonce = ?, verification_code = ?, last_poll_at = ? WHERE id = ?",
          deviceNonce,
          code,
          now,
          op.id,
        );
        this.#announce("operation-revealed", (await this.#row(op.id))!);
        return { status: 202, operationId: op.id, retryAfter: op.poll_interval_s, verificationCode: code };
      }
    } else if (!op.device_nonce) {
      throw this.#withOperation(op.id, new PlatformError(409, "reveal-required", "send deviceNonce first"));
    }

    if (op.state === "approved") return this.#approvedReply(op);
    if (op.last_poll_at !== null && now - op.last_poll_at < op.poll_interval_s * 1000 - POLL_TOLERANCE_MS) {
      throw this.#withOperation(
        op.id,
        new PlatformError(429, "slow-down", "polled faster than pollInterval", op.poll_interval_s),
      );
    }
    await this.#db.run("UPDATE operations SET last_poll_at = ? WHERE id = ?", now, op.id);
    return { status: 202, operationId: op.id, retryAfter: op.poll_interval_s, verificationCode: op.verification_code };
  }

  async approve(idOrCode: string, deviceIdOverride?: unknown): Promise<OperationInfo> {
    const op = await this.#expireIfDue(await this.#find(idOrCode));
    if (op.state !== "pending") {
      throw new PlatformError(409, "operation-not-pending", `operation ${op.id} is ${op.state}`);
    }
    if (!op.device_nonce) {
      throw new PlatformError(
        409,
        "waiting-for-device",
        "the device has not revealed its nonce yet: no verification code to compare",
      );
    }
    const token = (await this.#tokens.row(op.provisioning_token_id))!;
    const deviceId =
      deviceIdOverride !== undefined ? checkDeviceId(deviceIdOverride) : (token.device_id ?? op.requested_device_id);
    if (deviceId === null) {
      throw new PlatformError(400, "device-id-required", "the device asked for no Device ID: give one");
    }
    await this.#db.transaction(async (tx) => {
      // Read again inside: another technician, or another worker, may have decided it meanwhile.
      const state = (await tx.get<{ state: OperationState }>("SELECT state FROM operations WHERE id = ?", op.id))
        ?.state;
      if (state !== "pending")
        throw new PlatformError(409, "operation-not-pending", `operation ${op.id} is ${state ?? "gone"}`);
      const refusal = tokenRefusal((await this.#tokens.row(token.id, tx)) as TokenRow, this.#now());
      if (refusal) throw new PlatformError(409, `token-${refusal}`, `the provisioning token is ${refusal}`);
      await this.#checkDeviceIdFree(tx, op.workspace_id, deviceId, op.public_key);
      const tokenId = await this.#registry.register(
        tx,
        {
          workspaceId: op.workspace_id,
          deviceId,
          publicKey: op.public_key,
          attributes: op.attributes,
          operationId: op.id,
        },
        token.registration_lifetime_s,
      );
      await tx.run("UPDATE provisioning_tokens SET uses = uses + 1 WHERE id = ?", token.id);
      await tx.run(
        "UPDATE operations SET state = 'approved', device_id = ?, registration_token_id = ?, decided_at = ? WHERE id = ?",
        deviceId,
        tokenId,
        this.#now(),
        op.id,
      );
    });
    const approved = (await this.#row(op.id))!;
    this.#push(approved.client_id, await this.#approvedReply(approved));
    this.#announce("operation-approved", approved);
    return this.#info(approved);
  }

  /** `reason`, the technician's words, is kept with the operation (the device is told only that it was rejected). */
  async reject(idOrCode: string, reason?: string): Promise<OperationInfo> {
    if (reason !== undefined && (reason.length > 200 || [...reason].some((c) => c < " " || c === "\u007f")))
      throw new PlatformError(400, "invalid-request", "a reason is at most 200 characters, on one line");
    const op = await this.#expireIfDue(await this.#find(idOrCode));
    const rejecting = await this.#db.run(
      "UPDATE operations SET state = 'rejected', reason = ?, decided_at = ? WHERE id = ? AND state = 'pending'",
      reason ? `technician: ${reason}` : "technician",
      this.#now(),
      op.id,
    );
    const rejected = (await this.#row(op.id))!;
    if (!rejecting) throw new PlatformError(409, "operation-not-pending", `operation ${op.id} is ${rejected.state}`);
    this.#push(rejected.client_id, errorBody(this.#withOperation(op.id, this.#endedError(rejected))));
    this.#announce("operation-rejected", rejected);
    return this.#info(rejected);
  }

  /**
   * Oldest first; only those in `state` when given. A read only: a pending operation past its
   * expiry shows as expired without being written so (listing never waits for the database's
   * write lock, which the message writer holds while it syncs).
   */
  async list(page: PageQuery, state?: string): Promise<Page<OperationInfo>> {
    const rows = await this.#db.all<OperationRow & { cursor: number }>(
      `SELECT rowid AS cursor, * FROM operations WHERE rowid > ? AND (CAST(? AS TEXT) IS NULL OR
         CASE WHEN state = 'pending' AND expires_at <= ? THEN 'expired' ELSE state END = ?)
       ORDER BY rowid LIMIT ?`,
      page.after ?? 0,
      state ?? null,
      this.#now(),
      state ?? null,
      page.limit + 1,
    );
    return toPage(rows, page.limit, (row) => this.#info(row));
  }

  /**
   * Deletes operations that ended (approved and fetched, rejected, expired) more than
   * `retentionMs` ago: they are history, and an attacker's floods should not fill the disk.
   * Returns how many went.
   */
  prune(retentionMs: number): Promise<number> {
    return this.#db.run(
      "DELETE FROM operations WHERE state IN ('consumed', 'rejected', 'expired') AND COALESCE(decided_at, expires_at) < ?",
      this.#now() - retentionMs,
    );
  }

  /** Whether a client holds an approved operation it has not yet fetched: its token stays usable for that. */
  async hasUnfetchedApproval(clientId: string, provisioningTokenId: string): Promise<boolean> {
    return !!(await this.#db.get(
      "SELECT 1 FROM operations WHERE client_id = ? AND provisioning_token_id = ? AND state = 'approved'",
      clientId,
      provisioningTokenId,
    ));
  }

  async #resumable(
    session: ProvisioningSession,
    id: string,
    publicKey: Buffer,
    commitment: Buffer,
  ): Promise<OperationRow | undefined> {
    const found = await this.#row(id);
    if (!found || found.client_id !== session.clientId) return undefined;
    const op = await this.#expireIfDue(found);
    const same = op.public_key.equals(publicKey) && op.commitment.equals(commitment);
    return op.state === "pending" && same ? op : undefined;
  }

  async #checkDeviceIdFree(sql: Sql, workspaceId: string, deviceId: string, publicKey: Buffer): Promise<void> {
    const key = await this.#registry.registeredKey(workspaceId, deviceId, sql);
    // The same key asking again is that device provisioning anew, not a clash.
    if (key && !key.equals(publicKey)) {
      throw new PlatformError(409, "device-id-taken", `a registered device already has the ID ${deviceId}`);
    }
  }

  async #find(idOrCode: string): Promise<OperationRow> {
    const code = idOrCode.startsWith("op_") ? undefined : normalizeVerificationCode(idOrCode);
    if (code === undefined) {
      const op = await this.#row(idOrCode);
      if (!op) throw new PlatformError(404, "unknown-operation", `no operation ${idOrCode}`);
      return op;
    }
    const rows = await this.#db.all<OperationRow>(
      "SELECT * FROM operations WHERE verification_code = ? AND state = 'pending'",
      code,
    );
    if (rows.length === 0)
      throw new PlatformError(404, "unknown-operation", `no pending operation shows the code ${code}`);
    if (rows.length > 1)
      throw new PlatformError(409, "ambiguous-code", `several pending operations show ${code}: use the operation ID`);
    return rows[0];
  }

  #row(id: string): Promise<OperationRow | undefined> {
    return this.#db.get<OperationRow>("SELECT * FROM operations WHERE id = ?", id);
  }

  /** Writes the expiry of every pending operation past it (each announced); returns how many. */
  async expireDue(): Promise<number> {
    const due = await this.#db.all<OperationRow>(
      "SELECT * FROM operations WHERE state = 'pending' AND expires_at <= ?",
      this.#now(),
    );
    for (const op of due) await this.#expireIfDue(op);
    return due.length;
  }

  #announce(type: OperationEventType, op: OperationRow): void {
    this.#events.emit({ type, operation: this.#info(op) });
  }

  async #expireIfDue(op: OperationRow): Promise<OperationRow> {
    if (op.state !== "pending" || this.#now() < op.expires_at) return op;
    // Announced by whoever wrote it (another worker's sweep may have come first).
    const written = await this.#db.run(
      "UPDATE operations SET state = 'expired', decided_at = expires_at WHERE id = ? AND state = 'pending'",
      op.id,
    );
    const expired: OperationRow = { ...op, state: "expired" };
    if (written) this.#announce("operation-expired", expired);
    return expired;
  }

  #endedError(op: OperationRow): PlatformError {
    if (op.state === "expired") return new PlatformError(410, "operation-expired", "the operation expired");
    if (op.state === "consumed")
      return new PlatformError(410, "operation-consumed", "the device already connected with its token");
    return new PlatformError(
      410,
      "operation-rejected",
      op.reason === "commitment-mismatch" ? "the operation was cancelled" : "a technician rejected the operation",
    );
  }

  #withOperation(operationId: string, error: PlatformError): PlatformError {
    error.operationId = operationId;
    return error;
  }

  #initReply(op: OperationRow): Reply {
    return {
      status: 200,
      operationId: op.id,
      nonce: toBase64url(op.nonce),
      expiresIn: secondsUntil(op.expires_at, this.#now()),
      pollInterval: op.poll_interval_s,
    };
  }

  async #approvedReply(op: OperationRow): Promise<Reply> {
    const tokenId = op.registration_token_id!;
    return {
      status: 200,
      operationId: op.id,
      workspaceId: op.workspace_id,
      deviceId: op.device_id,
      registration: sealToken(this.#registry.tokenFor(tokenId), op.public_key),
      expiresIn: await this.#registry.expiresIn(tokenId),
    };
  }

  #info(op: OperationRow): OperationInfo {
    return {
      id: op.id,
      workspaceId: op.workspace_id,
      provisioningTokenId: op.provisioning_token_id,
      state: op.state === "pending" && op.expires_at <= this.#now() ? "expired" : op.state,
      revealed: op.device_nonce !== null,
      verificationCode: op.verification_code,
      requestedDeviceId: op.requested_device_id,
      deviceId: op.device_id,
      attributes: JSON.parse(op.attributes) as Record<string, string>,
      createdAt: isoTime(op.created_at)!,
      expiresAt: isoTime(op.expires_at)!,
      reason: op.reason,
    };
  }
}
