/** An error the platform answers with: an HTTP-like status and a stable code (docs/protocol.md tables). */
export class PlatformError extends Error {
  /** Replies to `complete` always name the operation (docs/protocol.md 1c), errors included. */
  operationId?: string;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "PlatformError";
  }
}

/** The error part of a reply, for MQTT replies and HTTP bodies alike. */
export function errorBody(error: PlatformError): Record<string, unknown> {
  const body: Record<string, unknown> = { status: error.status, error: error.code, message: error.message };
  if (error.operationId !== undefined) body.operationId = error.operationId;
  if (error.retryAfter !== undefined) body.retryAfter = error.retryAfter;
  return body;
}
