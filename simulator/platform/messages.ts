/** Reading the messages devices sent (message-writer.ts stores them). */
import { isoTime } from "./iso-time";
import { toPage, type Page, type PageQuery } from "./paging";
import type { Db } from "./store";

export interface MessageInfo {
  id: number;
  workspaceId: string;
  deviceId: string;
  stream: string;
  payloadBase64: string;
  size: number;
  receivedAt: string;
}

export interface MessageQuery extends PageQuery {
  deviceId?: string;
  stream?: string;
}

/** Payload bytes one page of messages carries at most (base64 in the body: a third more). */
export const MAX_MESSAGE_PAGE_BYTES = 4 * 1024 * 1024;

export function listMessages(db: Db, query: MessageQuery): Page<MessageInfo> {
  const rows = db
    .prepare(
      `SELECT id AS cursor, * FROM messages
       WHERE (@device IS NULL OR device_id = @device) AND (@stream IS NULL OR stream = @stream) AND (@after IS NULL OR id < @after)
       ORDER BY id DESC LIMIT @limit`,
    )
    .all({
      device: query.deviceId ?? null,
      stream: query.stream ?? null,
      after: query.after ?? null,
      limit: query.limit + 1,
    }) as {
    cursor: number;
    id: number;
    workspace_id: string;
    device_id: string;
    stream: string;
    payload: Buffer;
    received_at: number;
  }[];
  const message = (row: (typeof rows)[number]): MessageInfo => ({
    id: row.id,
    workspaceId: row.workspace_id,
    deviceId: row.device_id,
    stream: row.stream,
    payloadBase64: row.payload.toString("base64"),
    size: row.payload.length,
    receivedAt: isoTime(row.received_at)!,
  });
  return toPage(rows, query.limit, message, { sizeOf: (m) => m.size, maxBytes: MAX_MESSAGE_PAGE_BYTES });
}
