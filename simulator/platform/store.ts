/**
 * The platform's durable state: one SQLite file in the data directory, WAL with full fsync so a
 * row is on disk when the statement returns (messages are acknowledged only after that).
 * The schema is versioned with `PRAGMA user_version`; each migration runs once, in order.
 */
import Database from "better-sqlite3";
import { join } from "node:path";

export type Db = Database.Database;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE provisioning_tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    name TEXT,
    device_id TEXT,
    registration_lifetime_s INTEGER NOT NULL,
    expires_at INTEGER,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    provisioning_token_id TEXT NOT NULL REFERENCES provisioning_tokens(id),
    client_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    commitment BLOB NOT NULL,
    nonce BLOB NOT NULL,
    device_nonce BLOB,
    verification_code TEXT,
    requested_device_id TEXT,
    device_id TEXT,
    attributes TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','approved','rejected','expired','consumed')),
    reason TEXT,
    poll_interval_s INTEGER NOT NULL,
    last_poll_at INTEGER,
    registration_token_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_at INTEGER
  );
  CREATE INDEX operations_by_client ON operations(client_id);
  CREATE INDEX operations_by_state ON operations(state);
  CREATE TABLE devices (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    device_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    attributes TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    PRIMARY KEY (workspace_id, device_id)
  );
  -- One row per issued token; refresh adds a row and links the old one (replaced_by, grace_until).
  CREATE TABLE registration_tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    first_used_at INTEGER,
    replaced_by TEXT,
    grace_until INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (workspace_id, device_id) REFERENCES devices(workspace_id, device_id)
  );
  CREATE INDEX registration_tokens_by_device ON registration_tokens(workspace_id, device_id);
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at INTEGER NOT NULL
  );
  CREATE INDEX messages_by_device ON messages(workspace_id, device_id, stream, id);
  `,
  // Revocation (docs/protocol.md 2c): a revoked device keeps its row, and frees its ID for another key.
  `ALTER TABLE devices ADD COLUMN revoked_at INTEGER;`,
  // The last message stored under each QoS 1 message id of a device (docs/protocol.md 2a): a DUP resend
  // of it is acknowledged without a second row, whatever the window and across restarts.
  `CREATE TABLE device_message_ids (
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (workspace_id, device_id, message_id)
  ) WITHOUT ROWID;`,
  // Bytes of messages stored per device, kept by the message writer for the per-device quota,
  // and an index to trim a device's oldest messages and page through them.
  `CREATE TABLE device_storage (
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, device_id)
  ) WITHOUT ROWID;
  INSERT INTO device_storage SELECT workspace_id, device_id, SUM(LENGTH(payload)) FROM messages GROUP BY workspace_id, device_id;
  CREATE INDEX messages_by_device_id ON messages(workspace_id, device_id, id);`,
  // How many messages each device has stored, beside their bytes: the console and the API show it.
  `ALTER TABLE device_storage ADD COLUMN messages INTEGER NOT NULL DEFAULT 0;
  UPDATE device_storage SET messages = (SELECT COUNT(*) FROM messages m
    WHERE m.workspace_id = device_storage.workspace_id AND m.device_id = device_storage.device_id);`,
];

export const DEFAULT_WORKSPACE_ID = "ws_default";

export function databaseFile(dataDir: string): string {
  return join(dataDir, "provisio.sqlite");
}

export function openStore(dataDir: string, now: () => number): Db {
  const db = new Database(databaseFile(dataDir));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    db.close();
    throw new Error(`data directory has schema version ${version}, newer than this platform (${MIGRATIONS.length})`);
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    db.prepare("INSERT OR IGNORE INTO workspaces (id, name, created_at) VALUES (?, ?, ?)").run(
      DEFAULT_WORKSPACE_ID,
      "default",
      now(),
    );
  })();
  return db;
}
