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
const db = openSqlite(databaseFile, { migrate: false });

parentPort!.on("message", (messages: IncomingMessage[]) => {
  // Buffers arrive as Uint8Array through the structured clone.
  const batch = messages.map((m) => ({
    ...m,
    payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
  }));
  db.transaction((tx) => storeMessages(tx, batch, quotaBytesPerDevice)).then(
    () => parentPort!.postMessage({} satisfies BatchResult),
    (error: Error) => parentPort!.postMessage({ error: error.message } satisfies BatchResult),
  );
});
