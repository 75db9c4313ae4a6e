/**
 * The Transport port on Node's `net` and `tls`: a byte stream to one broker, plain TCP or, with
 * the `tls` option, TLS (1.2 or later) that verifies the server's certificate and host name and
 * fails closed: `onOpen` comes only after a verified handshake, so the core never writes a byte
 * (a CONNECT with its token) to an unverified server.
 */
import { Socket, isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { LinkFailure, Transport, TransportConnection, TransportEvents } from "../../sdk/ports";

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

/** Node's error codes, by the LinkFailure they mean. */
const failures: Record<string, LinkFailure> = {
  ECONNREFUSED: "refused",
  EHOSTUNREACH: "unreachable",
  ENETUNREACH: "unreachable",
  EHOSTDOWN: "unreachable",
  ENETDOWN: "unreachable",
  EADDRNOTAVAIL: "unreachable",
  ENOTFOUND: "name-not-resolved",
  EAI_AGAIN: "name-not-resolved",
  EAI_NONAME: "name-not-resolved",
  ETIMEDOUT: "timed-out",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "tls-untrusted",
  UNABLE_TO_GET_ISSUER_CERT: "tls-untrusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "tls-untrusted",
  SELF_SIGNED_CERT_IN_CHAIN: "tls-untrusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "tls-untrusted",
  CERT_SIGNATURE_FAILURE: "tls-untrusted",
  CERT_HAS_EXPIRED: "tls-expired",
  CERT_NOT_YET_VALID: "tls-expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "tls-wrong-host",
};

/** Why a connection failed, typed, and in words a person can act on (a TLS verification failure especially). */
export function connectionFailure(
  error: NodeJS.ErrnoException,
  host: string,
): { reason: LinkFailure; message: string } {
  const code = error.code ?? "";
  const reason = failures[code] ?? (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") ? "tls-failed" : "failed");
  switch (reason) {
    case "tls-untrusted":
      return { reason, message: `TLS: the server's certificate is not signed by a trusted CA (unknown CA, ${code})` };
    case "tls-wrong-host":
      return { reason, message: `TLS: the server's certificate does not name the host ${host} (wrong host)` };
    case "tls-expired":
      return code === "CERT_HAS_EXPIRED"
        ? {
            reason,
            message: "TLS: the server's certificate has expired (CERT_HAS_EXPIRED; check the device clock too)",
          }
        : {
            reason,
            message: "TLS: the server's certificate is not valid yet (CERT_NOT_YET_VALID; check the device clock)",
          };
    default:
      return { reason, message: code ? `${error.message} (${code})` : error.message };
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
    let reason: LinkFailure = "closed";
    let message: string | undefined;
    let opened = false;
    socket.setNoDelay(true);
    socket.on(tls ? "secureConnect" : "connect", () => {
      opened = true;
      events.onOpen();
    });
    socket.on("data", (data: Buffer) => events.onData(new Uint8Array(data.buffer, data.byteOffset, data.length)));
    socket.on("error", (error) => {
      const failure = connectionFailure(error, host);
      message = failure.message;
      // An open stream that ends is "closed" however it ends (a reset when the broker went away
      // with bytes unread, or a write after it left): the reasons tell why a connect failed.
      if (!opened) reason = failure.reason;
    });
    socket.once("close", () => events.onClose(reason, message));
    return {
      write(bytes) {
        if (!socket.destroyed && !socket.writableEnded) socket.write(bytes);
      },
      close() {
        if (socket.destroyed || socket.writableEnded) return;
        message = "closed by the client";
        // end() lets a final DISCONNECT leave first; a peer that never answers is cut after the grace.
        socket.end(() => socket.destroy());
        setTimeout(() => socket.destroy(), closeGraceMs).unref();
      },
    };
  }
}
