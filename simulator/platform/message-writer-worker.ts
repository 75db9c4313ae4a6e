/**
 * The worker thread of the embedded platform's message writer (message-writer.ts): one SQLite
 * connection, one transaction (and so one sync) per batch it is given, answering with what it
 * stored.
 */
import { parentPort, workerData } from "node:worker_threads";
import { storeMessages } from "./message-batch";
import type { BatchResult, IncomingMessage } from "./message-writer";
import { openSqlite } from "./sqlite-store";

const { databaseFile, quotaBytesPerDevice } = workerData as { databaseFile: string; quotaBytesPerDevice: number };
/**
 * The WAL is copied into the database here, off the event loop: when this thread is idle, at most
 * a second after the last copy (a passive checkpoint: it waits for nobody), and at the latest when
 * the WAL holds 10,000 pages (40 MB). SQLite's default (every 1,000 pages, in whichever
 * connection commits) rewrote the same index pages over and over under a fleet's load: a third
 * of the writer's time.
 */
const db = openSqlite(databaseFile, { migrate: false, checkpointPages: 10_000 });
let writing = 0;
setInterval(() => {
  if (writing === 0) void db.get("PRAGMA wal_checkpoint(PASSIVE)").catch(() => undefined);
}, 1000).unref();

parentPort!.on("message", (messages: IncomingMessage[]) => {
  // Buffers arrive as Uint8Array through the structured clone.
  const batch = messages.map((m) => ({
    ...m,
    payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
  }));
  writing++;
  db.transaction((tx) => storeMessages(tx, batch, quotaBytesPerDevice))
    .then(
      () => parentPort!.postMessage({} satisfies BatchResult),
      (error: Error) => parentPort!.postMessage({ error: error.message } satisfies BatchResult),
    )
    .finally(() => writing--);
});
