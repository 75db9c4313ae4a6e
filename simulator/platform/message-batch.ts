/**
 * One batch of device messages into the database, inside the caller's transaction: the same SQL for
 * SQLite (the message writer's thread) and PostgreSQL (every worker of a cluster).
 *
 * Each message is checked against the device's last message id (docs/protocol.md 2a: a DUP resend
 * of the message stored under that id is not stored again), and a device's stored bytes beyond its
 * quota are trimmed from its oldest messages.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "./message-writer";
import type { Sql } from "./store";

function digestOf(message: IncomingMessage): Buffer {
  return createHash("sha256").update(message.stream).update("\0").update(message.payload).digest();
}

interface DeviceTotals {
  workspaceId: string;
  deviceId: string;
  seen: number;
  added: number;
  count: number;
}

export async function storeMessages(tx: Sql, messages: readonly IncomingMessage[], quotaBytes: number): Promise<void> {
  const devices = new Map<string, DeviceTotals>();
  const rows: unknown[][] = [];
  for (const message of messages) {
    const { workspaceId, deviceId } = message;
    const digest = message.messageId === undefined ? undefined : digestOf(message);
    if (message.dup && digest) {
      const last = await tx.get<{ digest: Buffer }>(
        "SELECT digest FROM device_message_ids WHERE workspace_id = ? AND device_id = ? AND message_id = ?",
        workspaceId,
        deviceId,
        message.messageId,
      );
      if (last?.digest.equals(digest)) continue;
    }
    rows.push([workspaceId, deviceId, message.stream, message.payload, message.receivedAt]);
    if (digest)
      await tx.run(
        `INSERT INTO device_message_ids (workspace_id, device_id, message_id, digest) VALUES (?, ?, ?, ?)
         ON CONFLICT (workspace_id, device_id, message_id) DO UPDATE SET digest = excluded.digest`,
        workspaceId,
        deviceId,
        message.messageId,
        digest,
      );
    const name = `${workspaceId}:${deviceId}`;
    const device = devices.get(name) ?? { workspaceId, deviceId, seen: 0, added: 0, count: 0 };
    device.seen = Math.max(device.seen, message.receivedAt);
    device.added += message.payload.length;
    device.count++;
    devices.set(name, device);
  }
  await insertRows(tx, "messages (workspace_id, device_id, stream, payload, received_at)", rows);
  for (const { workspaceId, deviceId, seen, added, count } of devices.values()) {
    await tx.run(
      `UPDATE devices SET last_seen_at = CASE WHEN last_seen_at > ? THEN last_seen_at ELSE ? END
       WHERE workspace_id = ? AND device_id = ?`,
      seen,
      seen,
      workspaceId,
      deviceId,
    );
    const { bytes } = (await tx.get<{ bytes: number }>(
      `INSERT INTO device_storage (workspace_id, device_id, bytes, messages) VALUES (?, ?, ?, ?)
       ON CONFLICT (workspace_id, device_id)
       DO UPDATE SET bytes = device_storage.bytes + excluded.bytes, messages = device_storage.messages + excluded.messages
       RETURNING bytes`,
      workspaceId,
      deviceId,
      added,
      count,
    ))!;
    if (bytes > quotaBytes) await trim(tx, workspaceId, deviceId, bytes, quotaBytes);
  }
}

/** Rows per INSERT: a round trip to PostgreSQL per chunk, not per row (and within SQLite's 32766 parameters). */
const ROWS_PER_INSERT = 100;

/** Inserts rows in order, a chunk per statement. */
export async function insertRows(tx: Sql, table: string, rows: readonly unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
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
