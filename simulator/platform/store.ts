/**
 * The platform's storage port: the SQL it speaks, and the two databases that speak it. SQLite (one
 * file in the data directory) is the embedded default; PostgreSQL is for a fleet that outgrows one
 * machine, where several platform workers share one database.
 *
 * Statements are written once, in the SQL both engines read: `?` placeholders, `ON CONFLICT`,
 * `CASE` rather than the two-argument MIN/MAX (SQLite) or LEAST/GREATEST (PostgreSQL), and a
 * `rowid` column that PostgreSQL's schema declares where SQLite has it built in. Whatever must hold
 * when several workers act at once (one approval, unique Device IDs, token use counts) is done in a
 * transaction: SQLite runs one writer at a time, PostgreSQL runs them SERIALIZABLE and the work is
 * retried when the database says two collided, so the rules hold by the database and not by any
 * process's memory.
 */
import { openPostgres } from "./postgres-store";
import { openSqlite, sqliteFile } from "./sqlite-store";

export interface Sql {
  /** Every row. */
  all<Row>(sql: string, ...params: unknown[]): Promise<Row[]>;
  /** The first row, or undefined. */
  get<Row>(sql: string, ...params: unknown[]): Promise<Row | undefined>;
  /** How many rows the statement changed. */
  run(sql: string, ...params: unknown[]): Promise<number>;
}

export interface Db extends Sql {
  readonly engine: "sqlite" | "postgres";
  /**
   * Runs `work` as one transaction: all of it or none. `work` may run more than once (PostgreSQL
   * retries it after a serialization failure), so it does nothing but SQL through `tx`.
   */
  transaction<T>(work: (tx: Sql) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /**
   * For work whose every conflict is over one of these keys (a batch of messages: their devices):
   * the transaction takes them first, in one order, and holds them to its end, so two such
   * transactions wait for each other rather than collide and run again; each statement then sees
   * what the other committed (PostgreSQL: advisory locks, READ COMMITTED). SQLite runs one
   * writer at a time already.
   */
  lockKeys?: readonly string[];
}

export const DEFAULT_WORKSPACE_ID = "ws_default";

/** Where the platform keeps its state: a PostgreSQL URL, else SQLite in the data directory. */
export type DatabaseLocation = { dataDir: string; url?: undefined } | { url: string };

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** Opens the database and brings its schema up to date; the default workspace exists afterwards. */
export async function openStore(location: DatabaseLocation, now: () => number): Promise<Db> {
  let db: Db;
  if (location.url !== undefined) {
    if (!isPostgresUrl(location.url)) throw new Error("the database URL must start with postgres:// or postgresql://");
    db = await openPostgres(location.url);
  } else {
    // Checkpoints are the message writer's (message-writer-worker.ts): never on the event loop.
    db = openSqlite(sqliteFile(location.dataDir), { migrate: true, checkpointPages: 0 });
  }
  try {
    await db.run(
      "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
      DEFAULT_WORKSPACE_ID,
      "default",
      now(),
    );
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
