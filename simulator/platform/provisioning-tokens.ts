/**
 * Provisioning tokens: made by the technician, embedded in firmware, presented at the CONNECT of
 * a provisioning session. Only a SHA-256 hash and a short hint are stored.
 */
import { isoTime } from "./iso-time";
import { PlatformError } from "./errors";
import { checkDeviceId, hashToken, randomId } from "./protocol";
import { toPage, type Page, type PageQuery } from "./paging";
import { DEFAULT_WORKSPACE_ID, type Db, type Sql } from "./store";

export const DEFAULT_REGISTRATION_LIFETIME_S = 30 * 24 * 3600;

export interface CreateTokenOptions {
  workspaceId?: string;
  name?: string;
  /** Makes the token device-specific: every device provisioned with it gets this ID. */
  deviceId?: string;
  registrationLifetimeS?: number;
  /** Lifetime of the provisioning token itself; none means it never expires. */
  expiresInS?: number;
  maxUses?: number;
}

export interface TokenInfo {
  id: string;
  workspaceId: string;
  name: string | null;
  hint: string;
  deviceId: string | null;
  registrationLifetime: number;
  expiresAt: string | null;
  maxUses: number | null;
  uses: number;
  revoked: boolean;
  state: "active" | "revoked" | "expired" | "used-up";
  createdAt: string;
}

export interface TokenRow {
  id: string;
  workspace_id: string;
  name: string | null;
  hint: string;
  device_id: string | null;
  registration_lifetime_s: number;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  revoked: number;
  created_at: number;
}

/** Why a token cannot start or finish a provisioning now, or undefined when it can. */
export function tokenRefusal(row: TokenRow, now: number): "revoked" | "expired" | "used-up" | undefined {
  if (row.revoked) return "revoked";
  if (row.expires_at !== null && now >= row.expires_at) return "expired";
  if (row.max_uses !== null && row.uses >= row.max_uses) return "used-up";
  return undefined;
}

/**
 * The largest values the platform and the device can represent: a registration lifetime goes to
 * the device as a 32-bit count of seconds, a token's expiry must be a date (100 years ahead at
 * most), and a use count an integer SQLite, PostgreSQL's BIGINT and JSON agree on.
 */
export const TOKEN_LIMITS = {
  registrationLifetimeS: 0x7fffffff,
  expiresInS: 100 * 365 * 24 * 3600,
  maxUses: 0x7fffffff,
} as const;

function positiveInteger(value: unknown, field: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw new PlatformError(400, "invalid-request", `${field} must be an integer from 1 to ${max}`);
  }
  return value;
}

export class ProvisioningTokens {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(db: Db, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /** Returns the token itself (shown once) and its stored description. */
  async create(options: CreateTokenOptions): Promise<{ token: string; info: TokenInfo }> {
    const workspaceId = options.workspaceId ?? DEFAULT_WORKSPACE_ID;
    if (!(await this.#db.get("SELECT 1 FROM workspaces WHERE id = ?", workspaceId))) {
      throw new PlatformError(404, "unknown-workspace", `no workspace ${workspaceId}`);
    }
    if (options.deviceId !== undefined) checkDeviceId(options.deviceId, "deviceId");
    if (options.name !== undefined && (typeof options.name !== "string" || options.name.length > 100)) {
      throw new PlatformError(400, "invalid-request", "name must be a string of at most 100 characters");
    }
    const lifetime =
      positiveInteger(options.registrationLifetimeS, "registrationLifetime", TOKEN_LIMITS.registrationLifetimeS) ??
      DEFAULT_REGISTRATION_LIFETIME_S;
    const expiresIn = positiveInteger(options.expiresInS, "expiresIn", TOKEN_LIMITS.expiresInS);
    const maxUses = positiveInteger(options.maxUses, "maxUses", TOKEN_LIMITS.maxUses);
    const now = this.#now();
    const token = randomId("pt_", 24);
    const id = randomId("ptk_", 9);
    await this.#db.run(
      `INSERT INTO provisioning_tokens (id, workspace_id, token_hash, hint, name, device_id,
         registration_lifetime_s, expires_at, max_uses, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      workspaceId,
      hashToken(token),
      token.slice(0, 7) + "…",
      options.name ?? null,
      options.deviceId ?? null,
      lifetime,
      expiresIn === undefined ? null : now + expiresIn * 1000,
      maxUses ?? null,
      now,
    );
    return { token, info: this.info((await this.row(id))!) };
  }

  row(id: string, sql: Sql = this.#db): Promise<TokenRow | undefined> {
    return sql.get<TokenRow>("SELECT * FROM provisioning_tokens WHERE id = ?", id);
  }

  byToken(token: string): Promise<TokenRow | undefined> {
    return this.#db.get<TokenRow>("SELECT * FROM provisioning_tokens WHERE token_hash = ?", hashToken(token));
  }

  /** Oldest first. */
  async list(page: PageQuery): Promise<Page<TokenInfo>> {
    const rows = await this.#db.all<TokenRow & { cursor: number }>(
      "SELECT rowid AS cursor, * FROM provisioning_tokens WHERE rowid > ? ORDER BY rowid LIMIT ?",
      page.after ?? 0,
      page.limit + 1,
    );
    return toPage(rows, page.limit, (row) => this.info(row));
  }

  async revoke(id: string): Promise<TokenInfo> {
    const changed = await this.#db.run("UPDATE provisioning_tokens SET revoked = 1 WHERE id = ?", id);
    if (!changed) throw new PlatformError(404, "unknown-token", `no provisioning token ${id}`);
    return this.info((await this.row(id))!);
  }

  info(row: TokenRow): TokenInfo {
    return {
      id: row.id,
      workspaceId: row.workspace_id,
      name: row.name,
      hint: row.hint,
      deviceId: row.device_id,
      registrationLifetime: row.registration_lifetime_s,
      expiresAt: isoTime(row.expires_at),
      maxUses: row.max_uses,
      uses: row.uses,
      revoked: row.revoked !== 0,
      state: tokenRefusal(row, this.#now()) ?? "active",
      createdAt: isoTime(row.created_at)!,
    };
  }
}
