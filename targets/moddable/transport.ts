/**
 * The Transport port on Moddable's `socket` (plain TCP) or `securesocket` (TLS 1.2 with a DER CA
 * certificate). Moddable's socket lends its receive buffer only during the callback, and `write()`
 * throws when given more than the free send buffer (about 8 KB): this adapter queues what the core
 * writes, up to a bound, and writes it in pieces as "connected" and "sent" events report room.
 *
 * TLS: securesocket checks the chain up to the CA, every certificate's dates, and (since Moddable
 * 5.10, in ssl_cert.js) that the server certificate's subjectAltName names the host, which it
 * takes as the server name (and SNI) unless told otherwise. It does that check while walking the
 * chain the server sent, so the server must send its whole chain, each certificate with an
 * authorityKeyIdentifier: the platform and `provisio certs create` do. The session's copy of the
 * server certificate (`ssl.peerCert`) is deleted before "connected", so nothing here re-checks it.
 *
 * Sockets are opened and closed as socket-lifetime.ts says, which keeps Moddable's Linux
 * simulator alive: never inside another socket's callback, closed on a later turn while still
 * referenced, and `onClose` once the closed socket's messages have drained.
 */
import type { LinkFailure, Transport, TransportConnection, TransportEvents } from "provisio-sdk";
import SecureSocket from "securesocket";
import { Socket } from "socket";
import Timer from "timer";
import { guarded } from "./guard";
import { SocketLifetime } from "./socket-lifetime";

export interface ModdableTransportOptions {
  host: string;
  port: number;
  /** A DER CA certificate (e.g. `new Resource("ca.der")`): when given, the stream is TLS. */
  certificate?: ArrayBuffer | HostBuffer;
  /** Most bytes waiting to be sent; beyond it the connection closes. Default 16 KB. */
  maxQueuedBytes?: number;
  /** The app's sockets, shared with its other socket users (SNTP). Default: this transport's own. */
  sockets?: SocketLifetime;
}

const socketConnected = 1;
const socketReadable = 2;
const socketSent = 3;
const tlsProtocolVersion = 0x303; // TLS 1.2, the most securesocket speaks

/** What the adapter needs of `socket` and `securesocket`: both call back with the same messages. */
interface ModdableSocket {
  callback: (message: number, value?: number) => void;
  read(type: typeof ArrayBuffer): ArrayBuffer;
  write(data?: ArrayBuffer): number | void;
  close(): void;
}

export class ModdableTransport implements Transport {
  readonly #options: ModdableTransportOptions;
  readonly #sockets: SocketLifetime;

  constructor(options: ModdableTransportOptions) {
    this.#options = options;
    this.#sockets = options.sockets ?? new SocketLifetime();
  }

  connect(events: TransportEvents): TransportConnection {
    return new ModdableConnection(this.#options, this.#sockets, events);
  }
}

class ModdableConnection implements TransportConnection {
  readonly #sockets: SocketLifetime;
  readonly #events: TransportEvents;
  readonly #maxQueuedBytes: number;
  /** Until the socket is made, on a later turn. */
  #opening: Timer | undefined;
  /**
   * The socket, and a securesocket's own socket, which securesocket stops referencing when it
   * closes: both referenced here until the close has drained (socket-lifetime.ts).
   */
  #link: { socket: ModdableSocket; inner: unknown } | undefined;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** Bytes of the queue's head already written. */
  #headOffset = 0;
  #open = false;
  #closed = false;

  constructor(options: ModdableTransportOptions, sockets: SocketLifetime, events: TransportEvents) {
    this.#sockets = sockets;
    this.#events = events;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024;
    this.#opening = sockets.afterDrain(() => {
      this.#opening = undefined;
      guarded("socket-open", () => this.#connectSocket(options));
    });
  }

  #connectSocket(options: ModdableTransportOptions): void {
    const address = { host: options.host, port: options.port };
    try {
      // Both constructors throw when no socket is left (4 on an ESP32) or the host is malformed.
      const socket = (options.certificate
        ? new SecureSocket({
            ...address,
            secure: { certificate: options.certificate, protocolVersion: tlsProtocolVersion },
          })
        : new Socket(address)) as unknown as ModdableSocket & { sock?: unknown };
      socket.callback = (message, value) => guarded("socket", () => this.#onSocket(message, value));
      this.#link = { socket, inner: socket.sock };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // securesocket checks the CA's dates against the clock before it opens anything.
      this.#end(message.includes("date validation") ? "tls-expired" : "failed", `socket: ${message}`);
    }
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || bytes.length === 0) return;
    if (this.#queuedBytes + bytes.length > this.#maxQueuedBytes) return this.#end("failed", "send queue full");
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    if (this.#open) this.#flush();
  }

  close(): void {
    if (this.#opening) Timer.clear(this.#opening);
    this.#opening = undefined;
    this.#end("closed", "closed by the client");
  }

  #onSocket(message: number, value?: number): void {
    if (this.#closed) return;
    if (message === socketConnected) {
      this.#open = true;
      this.#events.onOpen();
      this.#flush();
    } else if (message === socketReadable) {
      // The bytes are readable only now, inside the callback.
      if (value) this.#events.onData(new Uint8Array(this.#link!.socket.read(ArrayBuffer)));
    } else if (message === socketSent) {
      this.#flush();
    } else if (this.#open) {
      this.#end("closed", message === -1 ? "disconnected" : "socket error");
    } else {
      // Moddable's socket says only that it failed (-2) or ended (-1), not why: refused,
      // unreachable, a name that did not resolve and a refused TLS handshake all look alike.
      this.#end("failed", message === -1 ? "disconnected before connecting" : "socket error before connecting");
    }
  }

  /** Writes as much of the queue as the socket's free send buffer takes. */
  #flush(): void {
    const socket = this.#link!.socket;
    while (!this.#closed && this.#queue.length > 0) {
      const free = socket.write() as number;
      if (!(free > 0)) return;
      const head = this.#queue[0];
      const length = Math.min(free, head.length - this.#headOffset);
      const start = head.byteOffset + this.#headOffset;
      try {
        socket.write((head.buffer as ArrayBuffer).slice(start, start + length));
      } catch (error) {
        // On lin a refused connection is reported "connected", and its first write fails.
        return this.#end("failed", `socket: ${error instanceof Error ? error.message : String(error)}`);
      }
      this.#queuedBytes -= length;
      this.#headOffset += length;
      if (this.#headOffset === head.length) {
        this.#queue.shift();
        this.#headOffset = 0;
      }
    }
  }

  /** Closes once, as socket-lifetime.ts says; `onClose` comes once the socket has drained. */
  #end(reason: LinkFailure, message: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#sockets.closeOnLaterTurn(this.#link?.socket, () => {
      this.#link = undefined;
      guarded("socket-close", () => this.#events.onClose(reason, message));
    });
  }
}
