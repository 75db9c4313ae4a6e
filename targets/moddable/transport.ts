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
  private readonly _options: ModdableTransportOptions;
  private readonly _sockets: SocketLifetime;

  constructor(options: ModdableTransportOptions) {
    this._options = options;
    this._sockets = options.sockets ?? new SocketLifetime();
  }

  connect(events: TransportEvents): TransportConnection {
    return new ModdableConnection(this._options, this._sockets, events);
  }
}

class ModdableConnection implements TransportConnection {
  private readonly _sockets: SocketLifetime;
  private readonly _events: TransportEvents;
  private readonly _maxQueuedBytes: number;
  /** Until the socket is made, on a later turn. */
  private _opening: Timer | undefined;
  /**
   * The socket, and a securesocket's own socket, which securesocket stops referencing when it
   * closes: both referenced here until the close has drained (socket-lifetime.ts).
   */
  private _link: { socket: ModdableSocket; inner: unknown } | undefined;
  private readonly _queue: Uint8Array[] = [];
  private _queuedBytes = 0;
  /** Bytes of the queue's head already written. */
  private _headOffset = 0;
  private _open = false;
  private _closed = false;

  constructor(options: ModdableTransportOptions, sockets: SocketLifetime, events: TransportEvents) {
    this._sockets = sockets;
    this._events = events;
    this._maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024;
    this._opening = sockets.afterDrain(() => {
      this._opening = undefined;
      guarded("socket-open", () => this._connectSocket(options));
    });
  }

  private _connectSocket(options: ModdableTransportOptions): void {
    const address = { host: options.host, port: options.port };
    try {
      // Both constructors throw when no socket is left (4 on an ESP32) or the host is malformed.
      const socket = (options.certificate
        ? new SecureSocket({
            ...address,
            secure: { certificate: options.certificate, protocolVersion: tlsProtocolVersion },
          })
        : new Socket(address)) as unknown as ModdableSocket & { sock?: unknown };
      socket.callback = (message, value) => guarded("socket", () => this._onSocket(message, value));
      this._link = { socket, inner: socket.sock };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // securesocket checks the CA's dates against the clock before it opens anything.
      this._end(message.includes("date validation") ? "tls-expired" : "failed", `socket: ${message}`);
    }
  }

  write(bytes: Uint8Array): void {
    if (this._closed || bytes.length === 0) return;
    if (this._queuedBytes + bytes.length > this._maxQueuedBytes) return this._end("failed", "send queue full");
    this._queue.push(bytes);
    this._queuedBytes += bytes.length;
    if (this._open) this._flush();
  }

  close(): void {
    if (this._opening) Timer.clear(this._opening);
    this._opening = undefined;
    this._end("closed", "closed by the client");
  }

  private _onSocket(message: number, value?: number): void {
    if (this._closed) return;
    if (message === socketConnected) {
      this._open = true;
      this._events.onOpen();
      this._flush();
    } else if (message === socketReadable) {
      // The bytes are readable only now, inside the callback.
      if (value) this._events.onData(new Uint8Array(this._link!.socket.read(ArrayBuffer)));
    } else if (message === socketSent) {
      this._flush();
    } else if (this._open) {
      this._end("closed", message === -1 ? "disconnected" : "socket error");
    } else {
      // Moddable's socket says only that it failed (-2) or ended (-1), not why: refused,
      // unreachable, a name that did not resolve and a refused TLS handshake all look alike.
      this._end("failed", message === -1 ? "disconnected before connecting" : "socket error before connecting");
    }
  }

  /** Writes as much of the queue as the socket's free send buffer takes. */
  private _flush(): void {
    const socket = this._link!.socket;
    while (!this._closed && this._queue.length > 0) {
      const free = socket.write() as number;
      if (!(free > 0)) return;
      const head = this._queue[0];
      const length = Math.min(free, head.length - this._headOffset);
      const start = head.byteOffset + this._headOffset;
      try {
        socket.write((head.buffer as ArrayBuffer).slice(start, start + length));
      } catch (error) {
        // On lin a refused connection is reported "connected", and its first write fails.
        return this._end("failed", `socket: ${error instanceof Error ? error.message : String(error)}`);
      }
      this._queuedBytes -= length;
      this._headOffset += length;
      if (this._headOffset === head.length) {
        this._queue.shift();
        this._headOffset = 0;
      }
    }
  }

  /** Closes once, as socket-lifetime.ts says; `onClose` comes once the socket has drained. */
  private _end(reason: LinkFailure, message: string): void {
    if (this._closed) return;
    this._closed = true;
    this._queue.length = 0;
    this._queuedBytes = 0;
    this._sockets.closeOnLaterTurn(this._link?.socket, () => {
      this._link = undefined;
      guarded("socket-close", () => this._events.onClose(reason, message));
    });
  }
}
