/**
 * A Transport whose connections are driven by the test: it records what the client writes and
 * lets the test open the link, deliver server bytes, and close it. Nothing happens on its own,
 * including the onClose that follows a client's close(): the test calls `end()` when it wants it.
 */
import type { ClientPacket } from "../../sdk/mqtt/packets";
import type { LinkFailure, Transport, TransportConnection, TransportEvents } from "../../sdk/ports";
import { parseClientPackets } from "./mqtt-wire";

export class ScriptedConnection implements TransportConnection {
  readonly #events: TransportEvents;
  /** Every write of the client, in order. */
  readonly written: Uint8Array[] = [];
  /** The client called close(). */
  closedByClient = false;
  /** Writes that came after close(): a port drops them, a correct client makes none. */
  writesAfterClose = 0;
  #ended = false;
  #taken = 0;

  constructor(events: TransportEvents) {
    this.#events = events;
  }

  write(bytes: Uint8Array): void {
    if (this.closedByClient || this.#ended) this.writesAfterClose++;
    else this.written.push(bytes.slice());
  }

  close(): void {
    this.closedByClient = true;
  }

  /** The stream opened. */
  open(): void {
    this.#events.onOpen();
  }

  /** Bytes from the server, delivered in one onData call. */
  deliver(bytes: Uint8Array): void {
    this.#events.onData(bytes);
  }

  /** The stream ended: delivers onClose, once. */
  end(reason: LinkFailure = "closed", message = "closed by the test"): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#events.onClose(reason, message);
  }

  /** Every packet the client wrote. */
  packets(): ClientPacket[] {
    return parseWrites(this.written);
  }

  /** The packets written since the last call. */
  take(): ClientPacket[] {
    const fresh = this.written.slice(this.#taken);
    this.#taken = this.written.length;
    return parseWrites(fresh);
  }
}

/** Writes need not align with packets, so they are joined before parsing. */
function parseWrites(writes: Uint8Array[]): ClientPacket[] {
  const all = new Uint8Array(writes.reduce((n, w) => n + w.length, 0));
  let offset = 0;
  for (const w of writes) {
    all.set(w, offset);
    offset += w.length;
  }
  return parseClientPackets(all);
}

export class ScriptedTransport implements Transport {
  readonly connections: ScriptedConnection[] = [];
  /** When set, connect() throws it (a port that cannot even start a connection). */
  failNextConnect: Error | undefined;

  connect(events: TransportEvents): TransportConnection {
    const error = this.failNextConnect;
    this.failNextConnect = undefined;
    if (error) throw error;
    const connection = new ScriptedConnection(events);
    this.connections.push(connection);
    return connection;
  }

  /** The newest connection. */
  get last(): ScriptedConnection {
    const connection = this.connections[this.connections.length - 1];
    if (!connection) throw new Error("the client opened no connection");
    return connection;
  }
}
