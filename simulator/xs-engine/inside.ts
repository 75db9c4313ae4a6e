/**
 * The XS half of the host bridge: code bundled into scripts that run inside xsnap imports these
 * rather than touching xsnap's globals itself. Messages in both directions are JSON.
 */

declare const issueCommand: (request: ArrayBuffer) => ArrayBuffer;
declare const gc: () => void;

/** `value` as JSON in UTF-8: the form of every reply and command crossing to the host. */
export function jsonBuffer(value: unknown): ArrayBuffer {
  return new TextEncoder().encode(JSON.stringify(value)).buffer;
}

/** Sends `message` to the host's onCommand handler; XS waits for its answer. */
export function sendToHost(message: unknown): Uint8Array {
  return new Uint8Array(issueCommand(jsonBuffer(message)));
}

/** A full garbage collection, so the next meter reading counts live slots only. */
export function collectGarbage(): void {
  gc();
}
