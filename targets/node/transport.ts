/** The Transport port on Node's `net`: plain TCP to one broker. */
import { Socket } from "node:net";
import type { Transport, TransportConnection, TransportEvents } from "../../sdk/ports";

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** After close(), how long queued bytes (a DISCONNECT) may take to leave before the socket is destroyed; default 1000 ms. */
  closeGraceMs?: number;
}

export class TcpTransport implements Transport {
  readonly #options: TcpTransportOptions;

  constructor(options: TcpTransportOptions) {
    this.#options = options;
  }

  connect(events: TransportEvents): TransportConnection {
    const { host, port, closeGraceMs = 1000 } = this.#options;
    const socket = new Socket();
    let reason = "closed";
    socket.setNoDelay(true);
    socket.on("connect", () => events.onOpen());
    socket.on("data", (data: Buffer) => events.onData(new Uint8Array(data.buffer, data.byteOffset, data.length)));
    socket.on("error", (error) => (reason = error.message));
    socket.once("close", () => events.onClose(reason));
    socket.connect(port, host);
    return {
      write(bytes) {
        if (!socket.destroyed && !socket.writableEnded) socket.write(bytes);
      },
      close() {
        if (socket.destroyed || socket.writableEnded) return;
        reason = "closed by the client";
        // end() lets a final DISCONNECT leave first; a peer that never answers is cut after the grace.
        socket.end(() => socket.destroy());
        setTimeout(() => socket.destroy(), closeGraceMs).unref();
      },
    };
  }
}
