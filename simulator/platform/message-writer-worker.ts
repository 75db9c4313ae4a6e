/**
 * The worker thread of message-writer.ts: one SQLite connection, one transaction (and so one
 * sync) per batch it is given, answering with what it stored.
 */
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import type { BatchResult, IncomingMessage } from "./message-writer";

const { databaseFile, quotaBytesPerDevice } = workerData as { databaseFile: string; quotaBytesPerDevice: number };
const db = new Database(databaseFile);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 10000");

const lastId = db
  .prepare("SELECT digest FROM device_message_ids WHERE workspace_id = ? AND device_id = ? AND message_id = ?")
  .pluck();
const insert = db.prepare(
  "INSERT INTO messages (workspace_id, device_id, stream, payload, received_at) VALUES (?, ?, ?, ?, ?)",
);
const remember = db.prepare(
  "INSERT OR REPLACE INTO device_message_ids (workspace_id, device_id, message_id, digest) VALUES (?, ?, ?, ?)",
);
const touch = db.prepare(
  "UPDATE devices SET last_seen_at = MAX(COALESCE(last_seen_at, 0), ?) WHERE workspace_id = ? AND device_id = ?",
);
const addStored = db
  .prepare(
    `INSERT INTO device_storage (workspace_id, device_id, bytes, messages) VALUES (?, ?, ?, ?)
   ON CONFLICT (workspace_id, device_id)
   DO UPDATE SET bytes = bytes + excluded.bytes, messages = messages + excluded.messages RETURNING bytes`,
  )
  .pluck();
const oldest = db.prepare(
  "SELECT id, LENGTH(payload) AS size FROM messages WHERE workspace_id = ? AND device_id = ? ORDER BY id LIMIT 256",
);
const drop = db.prepare("DELETE FROM messages WHERE id = ?");
const setStored = db.prepare(
  "UPDATE device_storage SET bytes = ?, messages = MAX(0, messages - ?) WHERE workspace_id = ? AND device_id = ?",
);

/** Deletes a device's oldest messages until it holds at most 90 % of its quota (so not every batch trims). */
function trim(workspaceId: string, deviceId: string, bytes: number): void {
  const target = Math.floor(quotaBytesPerDevice * 0.9);
  let dropped = 0;
  while (bytes > target) {
    const rows = oldest.all(workspaceId, deviceId) as { id: number; size: number }[];
    if (rows.length === 0) break;
    for (const row of rows) {
      if (bytes <= target) break;
      drop.run(row.id);
      bytes -= row.size;
      dropped++;
    }
  }
  setStored.run(Math.max(0, bytes), dropped, workspaceId, deviceId);
}

function digestOf(message: IncomingMessage): Buffer {
  return createHash("sha256").update(message.stream).update("\0").update(message.payload).digest();
}

const writeBatch = db.transaction((messages: IncomingMessage[]): void => {
  const devices = new Map<
    string,
    { workspaceId: string; deviceId: string; seen: number; added: number; count: number }
  >();
  for (const message of messages) {
    const digest = message.messageId === undefined ? undefined : digestOf(message);
    const key = [message.workspaceId, message.deviceId, message.messageId] as const;
    if (message.dup && digest && (lastId.get(...key) as Buffer | undefined)?.equals(digest)) continue;
    insert.run(message.workspaceId, message.deviceId, message.stream, message.payload, message.receivedAt);
    if (digest) remember.run(...key, digest);
    const name = `${message.workspaceId}:${message.deviceId}`;
    const device = devices.get(name) ?? {
      workspaceId: message.workspaceId,
      deviceId: message.deviceId,
      seen: 0,
      added: 0,
      count: 0,
    };
    device.seen = Math.max(device.seen, message.receivedAt);
    device.added += message.payload.length;
    device.count++;
    devices.set(name, device);
  }
  for (const { workspaceId, deviceId, seen, added, count } of devices.values()) {
    touch.run(seen, workspaceId, deviceId);
    const bytes = addStored.get(workspaceId, deviceId, added, count) as number;
    if (bytes > quotaBytesPerDevice) trim(workspaceId, deviceId, bytes);
  }
});

parentPort!.on("message", (messages: IncomingMessage[]) => {
  let result: BatchResult = {};
  try {
    // Buffers arrive as Uint8Array through the structured clone.
    writeBatch(
      messages.map((m) => ({
        ...m,
        payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
      })),
    );
  } catch (error) {
    result = { error: (error as Error).message };
  }
  parentPort!.postMessage(result);
});
