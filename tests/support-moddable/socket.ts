/**
 * Fake of Moddable's `socket` (TCP client), bridged to a real socket that the Node host owns. It
 * enforces the limits the ESP32 build has: at most 4 sockets, `read()` only inside the callback
 * and only as ArrayBuffer, and `write()` throws beyond the free send buffer (8 KB), which the host
 * gives back as the real socket drains ("sent", message 3). The securesocket fake is this same
 * socket with a TLS request for the host, which then reports "connected" after the handshake.
 */
import { base64urlDecode, base64urlEncode } from "../../sdk/crypto/base64url";
import { askHost, onHostEvent } from "./host";

export const maxSockets = 4;
export const sendBufferBytes = 8192;

const open = new Map<number, Socket>();

/** What the securesocket fake asks the host for on top of TCP (not part of Moddable's API). */
export interface TlsRequest {
  /** The DER CA certificate, base64url. */
  certificate: string;
  /** Sent as SNI when given. */
  serverName?: string;
  /** Whether to resume a session kept from an earlier handshake with this server name (Moddable's `cache`). */
  cache: boolean;
}

export class Socket {
  callback: ((message: number, value?: number) => void) | undefined;
  readonly #id: number;
  #free = sendBufferBytes;
  #readable: Uint8Array | undefined;
  #closed = false;

  constructor(dictionary: { host?: string; address?: string; port?: number }, tls?: TlsRequest) {
    if (open.size >= maxSockets) throw new Error("socket: no socket available");
    const host = dictionary.host ?? dictionary.address;
    if (typeof host !== "string" || !(typeof dictionary.port === "number" && dictionary.port > 0 && dictionary.port < 65536))
      throw new Error("socket: host and port required");
    this.#id = askHost<number>({ op: "socket-connect", host, port: dictionary.port, tls });
    open.set(this.#id, this);
  }

  /** With no argument: the free send buffer. Else writes all of `data` or throws. */
  write(data?: ArrayBuffer): number | undefined {
    if (this.#closed) throw new Error("socket: closed");
    if (data === undefined) return this.#free;
    if (!(data instanceof ArrayBuffer)) throw new TypeError("socket fake: write takes an ArrayBuffer");
    if (data.byteLength > this.#free) throw new Error("socket: write exceeds the free send buffer");
    this.#free -= data.byteLength;
    askHost({ op: "socket-write", id: this.#id, bytes: base64urlEncode(new Uint8Array(data)) });
    return undefined;
  }

  read(type: unknown): ArrayBuffer {
    if (type !== ArrayBuffer) throw new TypeError("socket fake: read(ArrayBuffer) only");
    if (!this.#readable) throw new Error("socket: read outside the data callback");
    const bytes = this.#readable;
    this.#readable = undefined;
    return bytes.slice().buffer as ArrayBuffer;
  }

  close(): void {
    if (this.#closed) throw new Error("socket: already closed");
    this.#finish();
    askHost({ op: "socket-close", id: this.#id });
  }

  #finish(): void {
    this.#closed = true;
    open.delete(this.#id);
  }

  /** A host event for this socket. Bytes are readable only while the callback runs. */
  deliver(event: string, bytes?: Uint8Array, sent?: number): void {
    if (this.#closed) return;
    if (event === "connected") this.callback?.(1);
    else if (event === "data") {
      this.#readable = bytes;
      try {
        this.callback?.(2, bytes!.length);
      } finally {
        this.#readable = undefined;
      }
    } else if (event === "sent") {
      this.#free += sent!;
      this.callback?.(3, this.#free);
    } else {
      this.#finish();
      this.callback?.(event === "error" ? -2 : -1);
    }
  }
}

export function openSockets(): number {
  return open.size;
}

onHostEvent("socket", (event) =>
  open.get(event.id as number)?.deliver(event.event as string, base64urlDecode((event.bytes as string) ?? ""), event.sent as number),
);
