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

interface MessageRow {
  cursor: number;
  id: number;
  workspace_id: string;
  device_id: string;
  stream: string;
  payload: Buffer;
  received_at: number;
}

export async function listMessages(db: Db, query: MessageQuery): Promise<Page<MessageInfo>> {
  const device = query.deviceId ?? null;
  const stream = query.stream ?? null;
  const after = query.after ?? null;
  const rows = await db.all<MessageRow>(
    `SELECT id AS cursor, * FROM messages
     WHERE (CAST(? AS TEXT) IS NULL OR device_id = ?) AND (CAST(? AS TEXT) IS NULL OR stream = ?)
       AND (CAST(? AS BIGINT) IS NULL OR id < ?)
     ORDER BY id DESC LIMIT ?`,
    device,
    device,
    stream,
    stream,
    after,
    after,
    query.limit + 1,
  );
  const message = (row: MessageRow): MessageInfo => ({
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
