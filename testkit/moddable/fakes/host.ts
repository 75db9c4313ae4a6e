/**
 * The XS side of the bridge the Moddable fakes use: requests go up to the Node host as JSON
 * through issueCommand, and the host's events (time passing, socket bytes) come down through
 * handleCommand to the fake that registered for them. Also installs `trace`, a Moddable global.
 */
import { collectGarbage, jsonBuffer, sendToHost } from "../../../simulator/xs-engine/inside";

/** An event the host pushes down; `kind` names the fake that handles it. */
export interface HostEvent {
  kind: string;
  /** Collect garbage before handling: the crank's meter then counts live slots plus what it made. */
  collectFirst?: boolean;
  [field: string]: unknown;
}

const handlers = new Map<string, (event: HostEvent) => unknown>();
let crank = 0;

/** Counts the host's events: one event is one crank, after which XS runs its pending jobs. */
export function currentCrank(): number {
  return crank;
}

export function askHost<T>(request: Record<string, unknown>): T {
  const reply = sendToHost(request);
  return (reply.length === 0 ? null : JSON.parse(new TextDecoder().decode(reply))) as T;
}

export function onHostEvent(kind: string, handler: (event: HostEvent) => unknown): void {
  handlers.set(kind, handler);
}

/**
 * No guard here: an exception escaping a Moddable callback restarts a device, so it must fail the
 * host's request (and the test) rather than be swallowed.
 */
(globalThis as unknown as { handleCommand(buffer: ArrayBuffer): ArrayBuffer }).handleCommand = (buffer) => {
  crank++;
  const event = JSON.parse(new TextDecoder().decode(buffer)) as HostEvent;
  const handler = handlers.get(event.kind);
  if (!handler) throw new Error(`no fake handles host event ${event.kind}`);
  if (event.collectFirst) collectGarbage();
  return jsonBuffer(handler(event) ?? null);
};

(globalThis as unknown as { trace(text: string): void }).trace = (text) =>
  void askHost({ op: "trace", text: String(text) });
