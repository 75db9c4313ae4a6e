/**
 * The embedded database: one SQLite file in the data directory, WAL with full fsync so a row is on
 * disk when the statement returns (messages are acknowledged only after that). The schema is
 * versioned with `PRAGMA user_version`; each migration runs once, in order.
 *
 * better-sqlite3 answers at once, but the port is asynchronous: a transaction's work awaits
 * between its statements, so this connection runs nothing else (a transaction or a lone
 * statement) until that transaction ends; otherwise a statement of another request would join it,
 * and roll back with it.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import type { Db, Sql } from "./store";

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
  // No query reads messages by stream through this index (the listing scans by id), and keeping it
  // cost a third of the message writer's time under a fleet's load.
  `DROP INDEX messages_by_device;`,
  // A QoS 1 message keeps its MQTT message id and a digest of its stream and bytes in its own row
  // (a DUP resend is looked for among the device's latest, past its mark), instead of a table of
  // every device's message ids rewritten at each message: that table cost as much as the
  // messages. Messages stored before this have no id: their DUP resends are stored again.
  `ALTER TABLE messages ADD COLUMN message_id INTEGER;
  ALTER TABLE messages ADD COLUMN digest BLOB;
  ALTER TABLE devices ADD COLUMN messages_after INTEGER NOT NULL DEFAULT 0;
  UPDATE devices SET messages_after = (SELECT COALESCE(MAX(id), 0) FROM messages);
  DROP TABLE device_message_ids;`,
];

export function sqliteFile(dataDir: string): string {
  return join(dataDir, "provisio.sqlite");
}

class SqliteDb implements Db {
  readonly engine = "sqlite";
  readonly #sqlite: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  /** Settles when the transaction in progress ends; undefined when none is. */
  #transaction: Promise<void> | undefined;
  /** The statements a transaction's own work runs, straight through. */
  readonly #direct: Sql = {
    all: async <Row>(sql: string, ...params: unknown[]) => this.#statement(sql).all(...params) as Row[],
    get: async <Row>(sql: string, ...params: unknown[]) => this.#statement(sql).get(...params) as Row | undefined,
    run: async (sql: string, ...params: unknown[]) => this.#statement(sql).run(...params).changes,
  };

  constructor(sqlite: Database.Database) {
    this.#sqlite = sqlite;
  }

  async all<Row>(sql: string, ...params: unknown[]): Promise<Row[]> {
    await this.#idle();
    return this.#direct.all<Row>(sql, ...params);
  }

  async get<Row>(sql: string, ...params: unknown[]): Promise<Row | undefined> {
    await this.#idle();
    return this.#direct.get<Row>(sql, ...params);
  }

  async run(sql: string, ...params: unknown[]): Promise<number> {
    await this.#idle();
    return this.#direct.run(sql, ...params);
  }

  // One writer at a time: lockKeys has nothing to add.
  async transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    await this.#idle();
    let ended!: () => void;
    this.#transaction = new Promise((resolve) => (ended = resolve));
    try {
      this.#sqlite.exec("BEGIN IMMEDIATE");
      const result = await work(this.#direct);
      this.#sqlite.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#sqlite.inTransaction) this.#sqlite.exec("ROLLBACK");
      throw error;
    } finally {
      this.#transaction = undefined;
      ended();
    }
  }

  async close(): Promise<void> {
    await this.#idle();
    this.#sqlite.close();
  }

  /** Waits until no transaction is in progress (the check and the caller's next step run in one turn). */
  async #idle(): Promise<void> {
    while (this.#transaction) await this.#transaction;
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#sqlite.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * Opens the SQLite file; with `migrate`, brings its schema up to date (the platform does, once at
 * start; the message writer's thread opens the same file after). `checkpointPages`: the WAL size
 * past which this connection's commit copies the WAL into the database (SQLite's default 1000;
 * 0 never): the message writer's thread does it for the platform (message-writer-worker.ts).
 */
export function openSqlite(file: string, options: { migrate: boolean; checkpointPages?: number }): Db {
  const sqlite = new Database(file);
  try {
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = FULL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 10000");
    if (options.checkpointPages !== undefined) sqlite.pragma(`wal_autocheckpoint = ${options.checkpointPages}`);
    if (options.migrate) migrate(sqlite);
  } catch (error) {
    sqlite.close();
    throw error;
  }
  return new SqliteDb(sqlite);
}

function migrate(sqlite: Database.Database): void {
  const version = sqlite.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length)
    throw new Error(`data directory has schema version ${version}, newer than this platform (${MIGRATIONS.length})`);
  sqlite.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) sqlite.exec(MIGRATIONS[v]);
    sqlite.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}
