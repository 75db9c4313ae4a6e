/**
 * Device messages are stored in batches, many per disk sync, and only then acknowledged: messages
 * that arrive while a batch commits form the next one (group commit), so one message alone is
 * written at once and a thousand arriving together cost about one sync. The MQTT and HTTP side
 * never waits for a sync: the embedded platform commits in a worker thread with its own SQLite
 * connection, a PostgreSQL platform through its client, which waits off the event loop anyway.
 * What a batch does in the database is message-batch.ts.
 */
import { Worker } from "node:worker_threads";
import { resolve } from "node:path";
import { storeMessages } from "./message-batch";
import type { Db } from "./store";

export interface IncomingMessage {
  workspaceId: string;
  deviceId: string;
  stream: string;
  payload: Buffer;
  receivedAt: number;
  /** QoS 1 only: its id and DUP flag. */
  messageId?: number;
  dup?: boolean;
}

/** Called once the message is durable (or was a DUP resend of one already stored), or with the error. */
export type StoredCallback = (error: Error | null) => void;

/** Where batches go, one transaction each, one at a time. */
export interface BatchStore {
  write(messages: IncomingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** What the SQLite thread answers for a batch: nothing when it committed, else why it failed as a whole. */
export interface BatchResult {
  error?: string;
}

/** The embedded platform's batches: a worker thread with its own connection to the SQLite file. */
export function sqliteThreadStore(databaseFile: string, quotaBytesPerDevice: number): BatchStore {
  const workerData = { databaseFile, quotaBytesPerDevice };
  // Compiled (dist/js), the worker is a file beside this one; from the sources, a bootstrap
  // loads the TypeScript through tsx, whether tsx came in by --import or by require.
  const worker = __filename.endsWith(".js")
    ? new Worker(resolve(__dirname, "message-writer-worker.js"), { workerData })
    : new Worker(`require("tsx/cjs"); require(${JSON.stringify(resolve(__dirname, "message-writer-worker.ts"))});`, {
        eval: true,
        workerData,
      });
  let waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  let failure: Error | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    waiting?.reject(failure);
    waiting = undefined;
  };
  worker.on("message", (result: BatchResult) => {
    const batch = waiting!;
    waiting = undefined;
    if (result.error === undefined) batch.resolve();
    else batch.reject(new Error(result.error));
  });
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`the message writer stopped (exit ${code})`)));
  return {
    write(messages) {
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        worker.postMessage(messages);
      });
    },
    close: () => worker.terminate().then(() => undefined),
  };
}

/** Batches written through the platform's own database connection (PostgreSQL). */
export function databaseStore(db: Db, quotaBytesPerDevice: number): BatchStore {
  return {
    write: (messages) => db.transaction((tx) => storeMessages(tx, messages, quotaBytesPerDevice)),
    close: async () => undefined,
  };
}

export interface MessageWriterOptions {
  store: BatchStore;
  /** Most messages in one transaction. */
  maxBatch?: number;
}

interface Batch {
  items: IncomingMessage[];
  callbacks: StoredCallback[];
}

export class MessageWriter {
  readonly #store: BatchStore;
  readonly #maxBatch: number;
  #queue: Batch = { items: [], callbacks: [] };
  #writing: Batch | undefined;
  /** A batch will leave at the end of this turn. */
  #starting = false;
  #closing: (() => void) | undefined;

  constructor(options: MessageWriterOptions) {
    this.#store = options.store;
    this.#maxBatch = options.maxBatch ?? 2000;
  }

  store(message: IncomingMessage, callback: StoredCallback): void {
    if (this.#closing) return callback(new Error("the platform is shutting down"));
    this.#queue.items.push(message);
    this.#queue.callbacks.push(callback);
    // The batch leaves once this turn's reads are done: what many devices sent together is one
    // commit, not one for the first message and another for the rest.
    if (!this.#writing && !this.#starting) {
      this.#starting = true;
      setImmediate(() => {
        this.#starting = false;
        this.#next();
      });
    }
  }

  /** Writes what is queued, then closes the store. */
  async close(): Promise<void> {
    if (this.#writing || this.#queue.items.length > 0) await new Promise<void>((done) => (this.#closing = done));
    else this.#closing = () => undefined;
    await this.#store.close();
  }

  #next(): void {
    if (this.#writing || this.#queue.items.length === 0) return;
    const batch = this.#queue;
    if (batch.items.length > this.#maxBatch) {
      this.#writing = {
        items: batch.items.splice(0, this.#maxBatch),
        callbacks: batch.callbacks.splice(0, this.#maxBatch),
      };
    } else {
      this.#writing = batch;
      this.#queue = { items: [], callbacks: [] };
    }
    const writing = this.#writing;
    this.#store.write(writing.items).then(
      () => this.#written(writing, null),
      (error: Error) => this.#written(writing, new Error(`messages not stored: ${error.message}`)),
    );
  }

  #written(batch: Batch, error: Error | null): void {
    this.#writing = undefined;
    // The next batch (what arrived meanwhile) goes to the store before this one's PUBACKs are
    // written: the store commits while this thread answers the devices.
    this.#next();
    for (const callback of batch.callbacks) callback(error);
    if (this.#closing && !this.#writing) this.#closing();
  }
}
