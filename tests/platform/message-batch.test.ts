/**
 * One batch of device messages into the platform's database (message-batch.ts), on SQLite and on
 * PostgreSQL (the jest project `postgres`): DUP resends recognised within a batch and across
 * batches, each device's totals, and its quota, in the few multi-row statements a batch takes.
 */
import { storeMessages } from "../../simulator/platform/message-batch";
import type { IncomingMessage } from "../../simulator/platform/message-writer";
import type { Db } from "../../simulator/platform/store";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";

let platform: TestPlatform;
let db: Db;

beforeAll(async () => {
  platform = await startTestPlatform();
  db = await platform.openDatabase();
});
afterAll(async () => {
  await db?.close();
  await platform?.stop();
});

const quota = 1024 * 1024;
let received = 1_000_000;

function message(deviceId: string, text: string, messageId?: number, dup = false): IncomingMessage {
  return {
    workspaceId: "ws_default",
    deviceId,
    stream: "batch",
    payload: Buffer.from(text),
    receivedAt: received++,
    messageId,
    dup,
  };
}

async function storedTexts(deviceId: string): Promise<string[]> {
  const rows = await db.all<{ payload: Buffer }>(
    "SELECT payload FROM messages WHERE workspace_id = 'ws_default' AND device_id = ? ORDER BY id",
    deviceId,
  );
  return rows.map((row) => Buffer.from(row.payload).toString());
}

async function totals(deviceId: string): Promise<{ bytes: number; messages: number } | undefined> {
  return db.get(
    "SELECT bytes, messages FROM device_storage WHERE workspace_id = 'ws_default' AND device_id = ?",
    deviceId,
  );
}

const store = (messages: IncomingMessage[], quotaBytes = quota) =>
  db.transaction((tx) => storeMessages(tx, messages, quotaBytes));

test("a DUP resend of the last message under its id is not stored again, in the same batch or a later one", async () => {
  await store([
    message("batch-0001", "a", 0x8001),
    message("batch-0001", "a", 0x8001, true), // the same bytes resent within the batch
    message("batch-0001", "b", 0x8002),
    message("batch-0001", "c", 0x8001), // a new message under the id (the ids wrapped)
    message("batch-0001", "a", 0x8001, true), // not the last under 0x8001 any more: a new message
  ]);
  await store([
    message("batch-0001", "a", 0x8001, true), // the last under 0x8001, from the batch before
    message("batch-0001", "b", 0x8002, true),
    message("batch-0001", "d", 0x8003, true), // DUP, but never stored: stored
    message("batch-0001", "e"), // QoS 0: no id
  ]);
  expect(await storedTexts("batch-0001")).toEqual(["a", "b", "c", "a", "d", "e"]);
  expect(await totals("batch-0001")).toEqual({ bytes: 6, messages: 6 });
});

test("a batch of many devices keeps each device's totals and last-seen time, and trims each over its quota", async () => {
  const devices = Array.from({ length: 250 }, (_, i) => `batch-many-${String(i).padStart(3, "0")}`);
  for (const deviceId of devices)
    await db.run(
      `INSERT INTO devices (workspace_id, device_id, public_key, attributes, operation_id, created_at)
       VALUES ('ws_default', ?, ?, '{}', 'op_test', 0)`,
      deviceId,
      Buffer.alloc(32),
    );
  const batch = devices.flatMap((deviceId, i) =>
    Array.from({ length: 3 }, (_, j) => message(deviceId, "x".repeat(i === 0 ? 600 : 10), 0x8000 + j)),
  );
  await store(batch, 1000);
  for (const deviceId of devices.slice(1)) expect(await totals(deviceId)).toEqual({ bytes: 30, messages: 3 });
  // 1800 bytes over a quota of 1000: trimmed to at most 90 % of it, its oldest first.
  expect(await totals(devices[0])).toEqual({ bytes: 600, messages: 1 });
  const lastSeen = await db.all<{ last_seen_at: number }>(
    "SELECT last_seen_at FROM devices WHERE workspace_id = 'ws_default' AND device_id LIKE 'batch-many-%'",
  );
  expect(lastSeen).toHaveLength(250);
  for (const { last_seen_at } of lastSeen) expect(Number(last_seen_at)).toBeGreaterThan(1_000_000);
});
