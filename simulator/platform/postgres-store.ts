/**
 * The database of a platform that outgrows one machine: PostgreSQL, shared by any number of
 * platform workers. Transactions run SERIALIZABLE and are retried when PostgreSQL reports that two
 * collided (store.ts); those given lock keys take them and run READ COMMITTED instead. The schema is versioned in `schema_version`; workers starting together
 * migrate one at a time under an advisory lock.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import type { PlatformEventBody, PlatformEvents } from "./events";
import type { Db, Sql, TransactionOptions } from "./store";

/**
 * The schema, as SQLite's migrations leave it (sqlite-store.ts), in PostgreSQL's types: BIGINT
 * for the millisecond times, BYTEA for keys and payloads, and the `rowid` the lists page by. A
 * migration of that shared schema is added to both engines in the same change; the tables of the
 * cluster mode (the second migration) exist only here.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE provisioning_tokens (
    rowid BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    name TEXT,
    device_id TEXT,
    registration_lifetime_s BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses BIGINT,
    uses BIGINT NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE operations (
    rowid BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    provisioning_token_id TEXT NOT NULL REFERENCES provisioning_tokens(id),
    client_id TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    commitment BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    device_nonce BYTEA,
    verification_code TEXT,
    requested_device_id TEXT,
    device_id TEXT,
    attributes TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','approved','rejected','expired','consumed')),
    reason TEXT,
    poll_interval_s INTEGER NOT NULL,
    last_poll_at BIGINT,
    registration_token_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT
  );
  CREATE INDEX operations_by_client ON operations(client_id);
  CREATE INDEX operations_by_state ON operations(state);
  CREATE INDEX operations_by_code ON operations(verification_code);
  CREATE INDEX operations_by_registration_token ON operations(registration_token_id);
  CREATE TABLE devices (
    rowid BIGSERIAL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    device_id TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    attributes TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT,
    PRIMARY KEY (workspace_id, device_id)
  );
  CREATE TABLE registration_tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    first_used_at BIGINT,
    replaced_by TEXT,
    grace_until BIGINT,
    revoked INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (workspace_id, device_id) REFERENCES devices(workspace_id, device_id)
  );
  CREATE INDEX registration_tokens_by_device ON registration_tokens(workspace_id, device_id);
  CREATE INDEX registration_tokens_by_replacement ON registration_tokens(replaced_by);
  CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    payload BYTEA NOT NULL,
    received_at BIGINT NOT NULL
  );
  CREATE INDEX messages_by_device ON messages(workspace_id, device_id, stream, id);
  CREATE INDEX messages_by_device_id ON messages(workspace_id, device_id, id);
  CREATE TABLE device_message_ids (
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    digest BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, device_id, message_id)
  );
  CREATE TABLE device_storage (
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    messages BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, device_id)
  );
  -- What the data directory's key files hold in the embedded mode, shared here by every worker.
  CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // The cluster mode's own (cluster/): who each MQTT client ID logged in as, told by the broker's
  // auth hook and read when its requests arrive; and the messages a worker stored but whose
  // acknowledgement the broker may not have had, so that a redelivery of one is not stored again.
  `
  CREATE TABLE broker_sessions (
    client_id TEXT PRIMARY KEY,
    provisioning_token_id TEXT,
    token_id TEXT,
    address TEXT,
    logged_in_at BIGINT NOT NULL
  );
  CREATE INDEX broker_sessions_by_provisioning_token ON broker_sessions(provisioning_token_id);
  CREATE TABLE delivery_ledger (
    id BIGSERIAL PRIMARY KEY,
    batch TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    digest BYTEA NOT NULL,
    stored_at BIGINT NOT NULL
  );
  CREATE INDEX delivery_ledger_by_message ON delivery_ledger(workspace_id, device_id, digest);
  CREATE INDEX delivery_ledger_by_batch ON delivery_ledger(batch);
  `,
  // As on SQLite: an index no query reads, and a cost to every stored message.
  `DROP INDEX messages_by_device;`,
  // As on SQLite: a message's id and digest in its own row, not in a table of every device's ids.
  `ALTER TABLE messages ADD COLUMN message_id INTEGER;
  ALTER TABLE messages ADD COLUMN digest BYTEA;
  ALTER TABLE devices ADD COLUMN messages_after BIGINT NOT NULL DEFAULT 0;
  UPDATE devices SET messages_after = (SELECT COALESCE(MAX(id), 0) FROM messages);
  DROP TABLE device_message_ids;`,
];

/** Any constant, the same in every worker: the key of the lock migrations take. */
const MIGRATION_LOCK = 0x70726f76;
/** SQLSTATEs that mean "two transactions collided, run it again": serialization failure, deadlock. */
const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_ATTEMPTS = 20;

/** The advisory lock of each key (64 bits of its SHA-256), in ascending order: two holders of a few take them in the same order. */
function advisoryLocks(keys: readonly string[]): string[] {
  const locks = new Set(keys.map((key) => createHash("sha256").update(key).digest().readBigInt64BE(0)));
  return [...locks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
}

/** BIGINT (20) and NUMERIC (1700, what SUM gives) as numbers: times in ms and counts fit in 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20 || oid === 1700 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** `?` placeholders as PostgreSQL's `$1, $2, …` (no statement here has a `?` inside a literal). */
const numbered = new Map<string, string>();
function toPostgres(sql: string): string {
  let text = numbered.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, text);
  }
  return text;
}

function sqlOn(client: pg.Pool | pg.PoolClient): Sql {
  const query = (sql: string, params: unknown[]) => client.query(toPostgres(sql), params);
  return {
    all: async <Row>(sql: string, ...params: unknown[]) => (await query(sql, params)).rows as Row[],
    get: async <Row>(sql: string, ...params: unknown[]) => (await query(sql, params)).rows[0] as Row | undefined,
    run: async (sql: string, ...params: unknown[]) => (await query(sql, params)).rowCount ?? 0,
  };
}

class PostgresDb implements Db {
  readonly engine = "postgres";
  readonly #pool: pg.Pool;
  readonly #sql: Sql;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
    this.#sql = sqlOn(pool);
  }

  all<Row>(sql: string, ...params: unknown[]): Promise<Row[]> {
    return this.#sql.all<Row>(sql, ...params);
  }

  get<Row>(sql: string, ...params: unknown[]): Promise<Row | undefined> {
    return this.#sql.get<Row>(sql, ...params);
  }

  run(sql: string, ...params: unknown[]): Promise<number> {
    return this.#sql.run(sql, ...params);
  }

  async transaction<T>(work: (tx: Sql) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const locks = advisoryLocks(options.lockKeys ?? []);
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      try {
        if (locks.length === 0) await client.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
        else {
          await client.query("BEGIN ISOLATION LEVEL READ COMMITTED");
          await client.query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::BIGINT[]) AS k", [locks]);
        }
        const result = await work(sqlOn(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        const code = (error as { code?: string }).code;
        if (!code || !RETRYABLE.has(code) || attempt === MAX_ATTEMPTS) throw error;
      } finally {
        client.release();
      }
      // Collided: wait a little, longer each time and not in step with the other side.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

export async function openPostgres(url: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types, connectionTimeoutMillis: 10_000 });
  // A connection that breaks while idle (the server restarted) is dropped from the pool; the
  // next query opens another. Without a listener it would end the process.
  pool.on("error", () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw new Error(`PostgreSQL at ${redacted(url)}: ${(error as Error).message}`, { cause: error });
  }
  return new PostgresDb(pool);
}

/** The URL without its password, for messages and logs. */
export function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unreadable URL)";
  }
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = (await client.query("SELECT version FROM schema_version")).rows[0] as { version: number } | undefined;
    const version = row?.version ?? 0;
    if (version > MIGRATIONS.length)
      throw new Error(`the database has schema version ${version}, newer than this platform (${MIGRATIONS.length})`);
    for (let v = version; v < MIGRATIONS.length; v++) await client.query(MIGRATIONS[v]);
    if (row) await client.query("UPDATE schema_version SET version = $1", [MIGRATIONS.length]);
    else await client.query("INSERT INTO schema_version (version) VALUES ($1)", [MIGRATIONS.length]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

const EVENT_CHANNEL = "provisio_events";
/** NOTIFY's payload limit is 8000 bytes: an event larger than this (none is, by the API's bounds) is not relayed. */
const MAX_EVENT_BYTES = 7900;

/**
 * Relays platform events between the workers of one database with LISTEN/NOTIFY: each worker holds
 * one connection that listens (opened again when it breaks), and publishes on the pool.
 */
export async function relayEvents(
  db: Db,
  url: string,
  events: PlatformEvents,
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  let listener: pg.Client | undefined;
  let closed = false;
  const listen = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: url, types });
    client.on("notification", (message) => {
      if (message.channel !== EVENT_CHANNEL || !message.payload) return;
      events.deliver(JSON.parse(message.payload) as PlatformEventBody);
    });
    client.on("error", () => undefined);
    client.on("end", () => {
      if (closed) return;
      log("platform: event relay lost its database connection, listening again");
      setTimeout(() => void listen().catch(() => undefined), 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${EVENT_CHANNEL}`);
    listener = client;
  };
  await listen();
  events.relayThrough({
    publish(body) {
      const payload = JSON.stringify(body);
      if (Buffer.byteLength(payload) > MAX_EVENT_BYTES) return log(`platform: event ${body.type} too large to relay`);
      db.run("SELECT pg_notify(?, ?)", EVENT_CHANNEL, payload).catch((error: Error) =>
        log(`platform: event ${body.type} not relayed: ${error.message}`),
      );
    },
  });
  return async () => {
    closed = true;
    await listener?.end();
  };
}

/**
 * A secret every worker shares (the key that seals registration tokens, the admin key): made once
 * at random by whichever worker comes first, then read by all.
 */
export async function sharedSecret(db: Db, name: string, make: () => string): Promise<string> {
  await db.run("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, make());
  return (await db.get<{ value: string }>("SELECT value FROM secrets WHERE name = ?", name))!.value;
}
