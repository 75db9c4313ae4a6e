/**
 * One batch of device messages into the database, inside the caller's transaction: the same SQL for
 * SQLite (the message writer's thread) and PostgreSQL (every worker of a cluster).
 *
 * A QoS 1 message is stored with its message id and a digest of its stream and bytes; a DUP resend
 * whose digest is that of the last message stored under its id by this device (docs/protocol.md
 * 2a) is not stored again. A device's stored bytes beyond its quota are trimmed from its oldest
 * messages.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "./message-writer";
import type { Sql } from "./store";

/** Most bytes of messages kept per device unless the operator sets another (docs/protocol.md 2a). */
export const DEFAULT_QUOTA_BYTES_PER_DEVICE = 256 * 1024 * 1024;

/** 128 bits of SHA-256 over the stream and the bytes: what tells a resend from a new message under a reused id. */
function digestOf(message: IncomingMessage): Buffer {
  return createHash("sha256").update(message.stream).update("\0").update(message.payload).digest().subarray(0, 16);
}

/**
 * How far back a DUP resend's original is looked for: ids are 16 bits, and a device that numbers
 * its messages in turn (the SDK's queue: 0x8000-0xFFFF) has reused an id by then.
 */
const RESEND_WINDOW = 65_536;

interface DeviceTotals {
  workspaceId: string;
  deviceId: string;
  seen: number;
  added: number;
  count: number;
}

/**
 * Stores a batch in a few statements whatever its size (the rows, the message ids, each device's
 * last-seen time and stored bytes each go in multi-row statements): per message, only a DUP resend
 * costs a lookup.
 */
export async function storeMessages(tx: Sql, messages: readonly IncomingMessage[], quotaBytes: number): Promise<void> {
  const devices = new Map<string, DeviceTotals>();
  const rows: unknown[][] = [];
  /** The digest of this batch's last message under each device's message id. */
  const lastUnderId = new Map<string, Buffer>();
  for (const message of messages) {
    const { workspaceId, deviceId, messageId } = message;
    const digest = messageId === undefined ? undefined : digestOf(message);
    const idKey = `${workspaceId}\0${deviceId}\0${messageId}`;
    if (message.dup && digest) {
      const last = lastUnderId.get(idKey) ?? (await lastStoredUnder(tx, workspaceId, deviceId, messageId!));
      if (last?.equals(digest)) continue;
    }
    rows.push([
      workspaceId,
      deviceId,
      message.stream,
      message.payload,
      message.receivedAt,
      messageId ?? null,
      digest ?? null,
    ]);
    if (digest) lastUnderId.set(idKey, digest);
    const name = `${workspaceId}:${deviceId}`;
    const device = devices.get(name) ?? { workspaceId, deviceId, seen: 0, added: 0, count: 0 };
    device.seen = Math.max(device.seen, message.receivedAt);
    device.added += message.payload.length;
    device.count++;
    devices.set(name, device);
  }
  await insertRows(tx, "messages (workspace_id, device_id, stream, payload, received_at, message_id, digest)", rows);
  const totals = [...devices.values()];
  for (const chunk of chunks(totals)) {
    // VALUES columns are column1, column2… on both databases; PostgreSQL types untyped parameters as text.
    await tx.run(
      `UPDATE devices SET last_seen_at = CASE WHEN last_seen_at > v.column3 THEN last_seen_at ELSE v.column3 END
       FROM (VALUES ${chunk.map(() => "(?, ?, CAST(? AS BIGINT))").join(", ")}) AS v
       WHERE devices.workspace_id = v.column1 AND devices.device_id = v.column2`,
      ...chunk.flatMap((d) => [d.workspaceId, d.deviceId, d.seen]),
    );
    const stored = await tx.all<{ workspace_id: string; device_id: string; bytes: number }>(
      `INSERT INTO device_storage (workspace_id, device_id, bytes, messages) VALUES ${chunk.map(() => "(?, ?, ?, ?)").join(", ")}
       ON CONFLICT (workspace_id, device_id)
       DO UPDATE SET bytes = device_storage.bytes + excluded.bytes, messages = device_storage.messages + excluded.messages
       RETURNING workspace_id, device_id, bytes`,
      ...chunk.flatMap((d) => [d.workspaceId, d.deviceId, d.added, d.count]),
    );
    for (const { workspace_id, device_id, bytes } of stored)
      if (bytes > quotaBytes) await trim(tx, workspace_id, device_id, bytes, quotaBytes);
  }
}

/**
 * The digest of the last message the device stored under `messageId` since it was last provisioned
 * (a device provisioned again starts its ids over), among its latest RESEND_WINDOW messages.
 */
async function lastStoredUnder(tx: Sql, workspaceId: string, deviceId: string, messageId: number) {
  const row = await tx.get<{ digest: Buffer }>(
    `SELECT digest FROM (
       SELECT id, message_id, digest FROM messages
       WHERE workspace_id = ? AND device_id = ?
         AND id > COALESCE((SELECT messages_after FROM devices WHERE workspace_id = ? AND device_id = ?), 0)
       ORDER BY id DESC LIMIT ${RESEND_WINDOW}
     ) recent
     WHERE message_id = ? ORDER BY id DESC LIMIT 1`,
    workspaceId,
    deviceId,
    workspaceId,
    deviceId,
    messageId,
  );
  return row?.digest;
}

/** Rows per statement: a round trip to PostgreSQL per chunk, not per row (and within either database's parameter limit). */
const ROWS_PER_STATEMENT = 200;

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) result.push(items.slice(i, i + ROWS_PER_STATEMENT));
  return result;
}

/** Inserts rows in order, a chunk per statement. */
export async function insertRows(tx: Sql, table: string, rows: readonly unknown[][]): Promise<void> {
  for (const chunk of chunks(rows)) {
    const values = chunk.map((row) => `(${row.map(() => "?").join(", ")})`).join(", ");
    await tx.run(`INSERT INTO ${table} VALUES ${values}`, ...chunk.flat());
  }
}

/** Deletes a device's oldest messages until it holds at most 90 % of its quota (so not every batch trims). */
async function trim(tx: Sql, workspaceId: string, deviceId: string, bytes: number, quotaBytes: number): Promise<void> {
  const target = Math.floor(quotaBytes * 0.9);
  let dropped = 0;
  while (bytes > target) {
    const rows = await tx.all<{ id: number; size: number }>(
      "SELECT id, LENGTH(payload) AS size FROM messages WHERE workspace_id = ? AND device_id = ? ORDER BY id LIMIT 256",
      workspaceId,
      deviceId,
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      if (bytes <= target) break;
      await tx.run("DELETE FROM messages WHERE id = ?", row.id);
      bytes -= row.size;
      dropped++;
    }
  }
  await tx.run(
    `UPDATE device_storage SET bytes = ?, messages = CASE WHEN messages > ? THEN messages - ? ELSE 0 END
     WHERE workspace_id = ? AND device_id = ?`,
    Math.max(0, bytes),
    dropped,
    dropped,
    workspaceId,
    deviceId,
  );
}
