/**
 * Device messages are stored off the event loop, many per disk sync: a worker thread with its own
 * connection to the platform's SQLite file (WAL, synchronous=FULL) commits them in batches, one
 * transaction each, and only then are they acknowledged. Messages that arrive while a batch
 * commits form the next one (group commit): one message alone is written at once, a thousand
 * arriving together cost about one sync. The MQTT and HTTP side never waits for a sync.
 *
 * Each message is checked against the device's last message id (docs/protocol.md 2a: a DUP resend of the
 * message stored under that id is not stored again) inside the same transaction, and a device's
 * stored bytes beyond its quota are trimmed from its oldest messages.
 */
import { Worker } from "node:worker_threads";
import { resolve } from "node:path";

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

export interface MessageWriterOptions {
  /** The SQLite file (its schema made by store.ts). */
  databaseFile: string;
  /** Most bytes of messages kept per device; older ones go first. */
  quotaBytesPerDevice: number;
  /** Most messages in one transaction. */
  maxBatch?: number;
}

interface Batch {
  items: IncomingMessage[];
  callbacks: StoredCallback[];
}

/** What the worker answers for a batch: nothing when it committed, else why it failed as a whole. */
export interface BatchResult {
  error?: string;
}

export class MessageWriter {
  readonly #worker: Worker;
  readonly #maxBatch: number;
  #queue: Batch = { items: [], callbacks: [] };
  #writing: Batch | undefined;
  #closing: (() => void) | undefined;
  #failure: Error | undefined;

  constructor(options: MessageWriterOptions) {
    this.#maxBatch = options.maxBatch ?? 2000;
    const workerData = { databaseFile: options.databaseFile, quotaBytesPerDevice: options.quotaBytesPerDevice };
    // Compiled (dist/js), the worker is a file beside this one; from the sources, a bootstrap
    // loads the TypeScript through tsx, whether tsx came in by --import or by require.
    this.#worker = __filename.endsWith(".js")
      ? new Worker(resolve(__dirname, "message-writer-worker.js"), { workerData })
      : new Worker(`require("tsx/cjs"); require(${JSON.stringify(resolve(__dirname, "message-writer-worker.ts"))});`, {
          eval: true,
          workerData,
        });
    this.#worker.on("message", (result: BatchResult) => this.#written(result));
    this.#worker.on("error", (error) => this.#fail(error));
    this.#worker.on("exit", (code) => this.#fail(new Error(`the message writer stopped (exit ${code})`)));
  }

  store(message: IncomingMessage, callback: StoredCallback): void {
    if (this.#failure || this.#closing) return callback(this.#failure ?? new Error("the platform is shutting down"));
    this.#queue.items.push(message);
    this.#queue.callbacks.push(callback);
    this.#next();
  }

  /** Writes what is queued, then stops the worker. */
  close(): Promise<void> {
    return new Promise((done) => {
      const stop = () => void this.#worker.terminate().then(() => done());
      if (this.#failure || (!this.#writing && this.#queue.items.length === 0)) return stop();
      this.#closing = stop;
    });
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
    this.#worker.postMessage(this.#writing.items);
  }

  #written(result: BatchResult): void {
    const batch = this.#writing!;
    this.#writing = undefined;
    const error = result.error === undefined ? null : new Error(`messages not stored: ${result.error}`);
    for (const callback of batch.callbacks) callback(error);
    this.#next();
    if (this.#closing && !this.#writing) this.#closing();
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const batch of [this.#writing, this.#queue]) batch?.callbacks.forEach((callback) => callback(error));
    this.#writing = undefined;
    this.#queue = { items: [], callbacks: [] };
    this.#closing?.();
  }
}
