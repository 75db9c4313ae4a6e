/**
 * The Transport port on Node's `net` and `tls`: a byte stream to one broker, plain TCP or, with
 * the `tls` option, TLS (1.2 or later) that verifies the server's certificate and host name and
 * fails closed: `onOpen` comes only after a verified handshake, so the core never writes a byte
 * (a CONNECT with its token) to an unverified server.
 */
import { Socket, isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Transport, TransportConnection, TransportEvents } from "../../sdk/ports";

export interface TlsClientOptions {
  /** Trusted CA certificates (PEM); default: Node's system store. */
  ca?: string | Buffer | readonly (string | Buffer)[];
}

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** When given, the stream is TLS, verified against `tls.ca` for `host`. */
  tls?: TlsClientOptions;
  /** After close(), how long queued bytes (a DISCONNECT) may take to leave before the socket is destroyed; default 1000 ms. */
  closeGraceMs?: number;
}

/** Why a connection failed (a TLS verification failure especially), in words a person can act on (the core logs it as the link loss). */
export function describeConnectionError(error: NodeJS.ErrnoException, host: string): string {
  switch (error.code) {
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "CERT_SIGNATURE_FAILURE":
      return `TLS: the server's certificate is not signed by a trusted CA (unknown CA, ${error.code})`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `TLS: the server's certificate does not name the host ${host} (wrong host)`;
    case "CERT_HAS_EXPIRED":
      return "TLS: the server's certificate has expired (CERT_HAS_EXPIRED; check the device clock too)";
    case "CERT_NOT_YET_VALID":
      return "TLS: the server's certificate is not valid yet (CERT_NOT_YET_VALID; check the device clock)";
    default:
      return error.code ? `${error.message} (${error.code})` : error.message;
  }
}

export class TcpTransport implements Transport {
  readonly #options: TcpTransportOptions;

  constructor(options: TcpTransportOptions) {
    this.#options = options;
  }

  connect(events: TransportEvents): TransportConnection {
    const { host, port, tls, closeGraceMs = 1000 } = this.#options;
    const socket: Socket = tls
      ? tlsConnect({
          host,
          port,
          ca: tls.ca as string | Buffer | (string | Buffer)[] | undefined,
          // SNI carries names only; an IP address is still checked against the certificate's IP SANs.
          servername: isIP(host) ? undefined : host,
          minVersion: "TLSv1.2",
          rejectUnauthorized: true,
        })
      : new Socket().connect(port, host);
    let reason = "closed";
    socket.setNoDelay(true);
    socket.on(tls ? "secureConnect" : "connect", () => events.onOpen());
    socket.on("data", (data: Buffer) => events.onData(new Uint8Array(data.buffer, data.byteOffset, data.length)));
    socket.on("error", (error) => (reason = describeConnectionError(error, host)));
    socket.once("close", () => events.onClose(reason));
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
