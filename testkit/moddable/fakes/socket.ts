/**
 * Fake of Moddable's `socket` (TCP client), bridged to a real socket that the Node host owns, with
 * the native socket's life as each platform's Moddable has it.
 *
 * Everywhere: at most 4 sockets (the ESP32's lwip), `read()` only inside the callback and only as
 * ArrayBuffer, and `write()` throws beyond the free send buffer (8 KB), which the host gives back
 * as the real socket drains ("sent", message 3).
 *
 * On the Linux simulator, as modules/network/socket/lin/modSocket.c (Moddable 8.2.3) has it:
 * - what happens on the connection reaches the machine as messages posted to it and delivered on
 *   a later turn (here: the host's events, each in a crank of its own); a message that reaches a
 *   socket already freed finds it "done" and is dropped (it reads freed memory: harmless until
 *   that memory goes to another socket, see below);
 * - `close()` frees the native socket once its use count reaches zero: at once outside its
 *   callbacks, as the callback returns inside one. The destructor finds the socket through its
 *   JavaScript object, which nothing keeps alive once it is closed: if the collector took it
 *   during the callback, mcsim crashed (gdb: socketReadable, fxGetHostDestructor, longjmp);
 * - a new socket takes the memory of one freed before it: made while messages posted to a freed
 *   socket are still undelivered, those messages act on it (the host checks this);
 * - a disconnect (-1) leaves the socket done: `close()` then throws "close on closed socket";
 * - a socket error is never reported (recv's error is ignored), and a refused connection is
 *   reported connected (select says writable), its writes then failing ("write failed").
 * A fault of these is a test failure: where the fake faults, mcsim crashed or would.
 * On the ESP32 a failed or reset connection is -2, and closing is safe from anywhere.
 */
import { base64urlDecode, base64urlEncode } from "../../../sdk/crypto/base64url";
import { collectGarbage } from "../../../simulator/xs-engine/inside";
import { platform } from "moddable-runtime";
import { askHost, currentCrank, onHostEvent } from "./host";
import { yieldAfterThisTimer } from "./timer";

export const maxSockets = 4;
export const sendBufferBytes = 8192;

const lin = platform === "lin";

/** Sockets the JavaScript side has not closed: kept alive by the native side (modSocket's xsRemember). */
const open = new Map<number, Socket>();
/** Events delivered per socket, for the host's check that no freed socket has messages pending when one is made. */
const delivered = new Map<number, number>();

/**
 * Sockets freed as one of their own callbacks returned: collected in that crank, the native side
 * would have freed them under the callback.
 */
const freedUnderCallback = new FinalizationRegistry<{ id: number; crank: number }>(({ id, crank }) => {
  if (crank === currentCrank())
    askHost({
      op: "fault",
      message: `socket ${id} closed in its own callback was left unreferenced: on the simulator Moddable frees it under the callback and mcsim crashes`,
    });
});
let collectAfterCallback = false;

/** What the securesocket fake asks the host for on top of TCP (not part of Moddable's API). */
export interface TlsRequest {
  /** The DER CA certificate, base64url. */
  certificate: string;
  /** What the server certificate must name (and the SNI when it is a DNS name): securesocket's serverName, else the host. */
  serverName: string;
  /** Whether to resume a session kept from an earlier handshake with this server name (Moddable's `cache`). */
  cache: boolean;
}

export class Socket {
  static readonly connected = 1;
  static readonly readable = 2;
  static readonly writable = 3;
  static readonly disconnected = -1;
  static readonly error = -2;

  callback: ((message: number, value?: number) => void) | undefined;
  readonly #id: number;
  #free = sendBufferBytes;
  #readable: Uint8Array | undefined;
  /** Closed or ended: no callback any more (modSocket's `done`). */
  #done = false;
  /** Connected as far as this side knows. */
  #connected = false;
  /** lin: a connection that failed where modSocket.c does not say so; its writes fail. */
  #broken = false;

  constructor(dictionary: { host?: string; address?: string; port?: number }, tls?: TlsRequest) {
    if (!lin && openSockets() >= maxSockets) throw new Error("socket: no socket available");
    const host = dictionary.host ?? dictionary.address;
    if (
      typeof host !== "string" ||
      !(typeof dictionary.port === "number" && dictionary.port > 0 && dictionary.port < 65536)
    )
      throw new Error("socket: host and port required");
    this.#id = askHost<number>({
      op: "socket-connect",
      host,
      port: dictionary.port,
      tls,
      // lin: what the freed sockets have had delivered, for the host to tell what is still posted to them.
      delivered: lin ? Object.fromEntries(delivered) : undefined,
    });
    open.set(this.#id, this);
    delivered.set(this.#id, 0);
  }

  /** With no argument: the free send buffer. Else writes all of `data` or throws. */
  write(data?: ArrayBuffer): number | undefined {
    if (this.#done) throw new Error("write on closed socket");
    if (data === undefined) return this.#free;
    if (!(data instanceof ArrayBuffer)) throw new TypeError("socket fake: write takes an ArrayBuffer");
    if (data.byteLength > this.#free) throw new Error("can't write all data");
    if (this.#broken) throw new Error("write failed");
    this.#free -= data.byteLength;
    askHost({ op: "socket-write", id: this.#id, bytes: base64urlEncode(new Uint8Array(data)) });
    return undefined;
  }

  read(type: unknown): ArrayBuffer {
    if (type !== ArrayBuffer) throw new TypeError("socket fake: read(ArrayBuffer) only");
    if (!this.#readable) throw new Error("socket: read outside the data callback");
    const bytes = this.#readable;
    this.#readable = undefined;
    return bytes.slice().buffer;
  }

  close(): void {
    if (this.#done) throw new Error("close on closed socket");
    this.#done = true;
    open.delete(this.#id);
    askHost({ op: "socket-close", id: this.#id });
    yieldAfterThisTimer();
  }

  /** A host event for this socket. Bytes are readable only while the callback runs. */
  deliver(event: string, bytes?: Uint8Array, sent?: number): void {
    if (this.#done) return;
    if (event === "connected") {
      this.#connected = true;
      this.#call(Socket.connected);
    } else if (event === "data") {
      this.#readable = bytes;
      try {
        this.#call(Socket.readable, bytes!.length);
      } finally {
        this.#readable = undefined;
      }
    } else if (event === "sent") {
      this.#free += sent!;
      this.#call(Socket.writable, this.#free);
    } else if (event === "closed") {
      // lin: recv() saw the end of the stream; the socket is done after the callback.
      this.#call(Socket.disconnected);
      if (!this.#done) this.#end();
    } else if (event === "tls-failed" || !lin) {
      // A refused TLS handshake is securesocket's own error (its ssl layer throws), on every platform.
      this.#call(Socket.error);
      if (!this.#done) this.#end();
    } else if (!this.#connected) {
      // lin: select() says a socket whose connect failed is writable, so it is "connected".
      this.#broken = true;
      this.#connected = true;
      this.#call(Socket.connected);
    } else this.#broken = true;
  }

  /**
   * The stack ended the socket: no callback any more. On lin it stays allocated, and referenced
   * by the native side, until `close()`, which then throws: Moddable leaks it. On the ESP32 it is gone.
   */
  #end(): void {
    this.#done = true;
    if (!lin) open.delete(this.#id);
  }

  get done(): boolean {
    return this.#done;
  }

  #call(message: number, value?: number): void {
    try {
      this.callback?.(message, value);
    } finally {
      // Closed during the callback: lin frees it now, looking it up through this object.
      if (lin && this.#done && !open.has(this.#id)) {
        freedUnderCallback.register(this, { id: this.#id, crank: currentCrank() });
        collectAfterCallback = true;
      }
    }
  }
}

/** Sockets the app has not closed and the stack has not ended. */
export function openSockets(): number {
  let count = 0;
  for (const socket of open.values()) if (!socket.done) count++;
  return count;
}

onHostEvent("socket", (event) => {
  const id = event.id as number;
  delivered.set(id, (delivered.get(id) ?? 0) + 1);
  // No local holds the socket: after the callback only the app's references keep it.
  open.get(id)?.deliver(event.event as string, base64urlDecode((event.bytes as string) ?? ""), event.sent as number);
  if (collectAfterCallback) {
    collectAfterCallback = false;
    collectGarbage();
  }
});
