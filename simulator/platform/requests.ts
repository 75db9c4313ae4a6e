/**
 * The envelope every control request shares (docs/protocol.md, Transport): UTF-8 JSON object of at
 * most 4096 bytes with `"v"` (2, or 1 from a device of the first version: the bodies are the same)
 * and a `rid` string of at most 32 characters.
 */
import { PlatformError } from "./errors";

export const MAX_REQUEST_BYTES = 4096;
const MAX_RID_LENGTH = 32;

export interface Request {
  rid: string;
  body: Record<string, unknown>;
}

/** Reads the rid when there is one, so even a refused request gets an answer the device can match. */
export type ParsedRequest = { ok: true; request: Request } | { ok: false; rid: string | null; error: PlatformError };

function invalid(rid: string | null, message: string): ParsedRequest {
  return { ok: false, rid, error: new PlatformError(400, "invalid-request", message) };
}

export function parseRequest(payload: Uint8Array): ParsedRequest {
  if (payload.length > MAX_REQUEST_BYTES) return invalid(null, `request larger than ${MAX_REQUEST_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    return invalid(null, "request is not UTF-8 JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return invalid(null, "request is not a JSON object");
  const fields = body as Record<string, unknown>;
  const rid = typeof fields.rid === "string" && fields.rid.length <= MAX_RID_LENGTH ? fields.rid : null;
  if (rid === null) return invalid(null, `rid must be a string of at most ${MAX_RID_LENGTH} characters`);
  if (fields.v !== 1 && fields.v !== 2) return invalid(rid, "unsupported protocol version: v must be 2 (or 1)");
  return { ok: true, request: { rid, body: fields } };
}
