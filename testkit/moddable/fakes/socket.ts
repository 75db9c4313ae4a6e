/**
 * Fake of Moddable's `socket` (TCP client), bridged to a real socket that the Node host owns. It
 * enforces the limits the ESP32 build has: at most 4 sockets, `read()` only inside the callback
 * and only as ArrayBuffer, and `write()` throws beyond the free send buffer (8 KB), which the host
 * gives back as the real socket drains ("sent", message 3). The securesocket fake is this same
 * socket with a TLS request for the host, which then reports "connected" after the handshake.
 * On the simulator a socket closed inside its own callback must stay referenced until the callback
 * is over (freedUnderCallback checks that).
 */
import { base64urlDecode, base64urlEncode } from "../../../sdk/crypto/base64url";
import { collectGarbage } from "../../../simulator/xs-engine/inside";
import { askHost, currentCrank, onHostEvent } from "./host";

export const maxSockets = 4;
export const sendBufferBytes = 8192;

const open = new Map<number, Socket>();

/**
 * Sockets closed during one of their own callbacks (by the app or by the stack). On Moddable's
 * simulator the native socket runs on in that callback after it closed; if nothing referenced the
 * socket object and the collector ran meanwhile, the native socket was freed under it and mcsim
 * crashed (a use-after-free, seen with valgrind). So after such a callback the fake collects
 * garbage: a socket collected then would have been freed under its callback, and the test fails.
 * (The registry reports at the end of the crank; a socket collected in a later crank, once the app
 * let go of it, is fine.)
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
  callback: ((message: number, value?: number) => void) | undefined;
  readonly #id: number;
  #free = sendBufferBytes;
  #readable: Uint8Array | undefined;
  #closed = false;

  constructor(dictionary: { host?: string; address?: string; port?: number }, tls?: TlsRequest) {
    if (open.size >= maxSockets) throw new Error("socket: no socket available");
    const host = dictionary.host ?? dictionary.address;
    if (
      typeof host !== "string" ||
      !(typeof dictionary.port === "number" && dictionary.port > 0 && dictionary.port < 65536)
    )
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
    return bytes.slice().buffer;
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
    try {
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
    } finally {
      if (this.#closed) {
        freedUnderCallback.register(this, { id: this.#id, crank: currentCrank() });
        collectAfterCallback = true;
      }
    }
  }
}

export function openSockets(): number {
  return open.size;
}

onHostEvent("socket", (event) => {
  // No local holds the socket: after the callback only the app's references keep it.
  open
    .get(event.id as number)
    ?.deliver(event.event as string, base64urlDecode((event.bytes as string) ?? ""), event.sent as number);
  if (collectAfterCallback) {
    collectAfterCallback = false;
    collectGarbage();
  }
});
