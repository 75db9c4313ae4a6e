/**
 * Fake of Moddable's `securesocket`: the fake `socket` bridged to a TLS connection that the Node
 * host makes with the profile of Moddable's TLS client (see tests/moddable/moddable-host.ts). The
 * constructor keeps the real one's rules: the CA is DER in an ArrayBuffer, TLS 1.2 at most, and
 * registering a CA outside its validity at this side's Date.now() throws "date validation failed"
 * (as on a device whose clock SNTP has not set yet). A failed handshake is a socket error (-2).
 * Like the real one it keeps its TLS session as `ssl`, whose `peerCert` is the server's leaf
 * certificate (DER) after a full handshake (none after a resumed one), deleted on close.
 */
import { base64urlEncode } from "../../sdk/crypto/base64url";
import { askHost } from "./host";
import { Socket, type TlsRequest } from "./socket";

const maxProtocolVersion = 0x303;

interface SecureOptions {
  certificate?: unknown;
  protocolVersion?: number;
  serverName?: unknown;
  verify?: boolean;
  cache?: boolean;
}

export default class SecureSocket extends Socket {
  /** Off: behave as a Moddable version whose session does not keep `peerCert`. */
  static keepsPeerCert = true;
  ssl?: { peerCert?: ArrayBuffer } = {};

  constructor(dictionary: { host?: string; address?: string; port?: number; secure?: SecureOptions }) {
    // As on Moddable, the TLS session (and its CA) comes before the TCP socket.
    super(dictionary, tlsRequest(dictionary.secure ?? {}));
  }

  /** "connected" brings the certificate the host's TLS connection received, if its handshake was a full one. */
  override deliver(event: string, bytes?: Uint8Array, sent?: number): void {
    if (event === "connected" && bytes?.length && SecureSocket.keepsPeerCert && this.ssl) this.ssl.peerCert = bytes.slice().buffer as ArrayBuffer;
    super.deliver(event, bytes, sent);
    // securesocket closes itself after reporting a disconnect or an error.
    if (event === "closed" || event === "error") delete this.ssl;
  }

  override close(): void {
    delete this.ssl;
    super.close();
  }
}

function tlsRequest(secure: SecureOptions): TlsRequest {
  if (!(secure.certificate instanceof ArrayBuffer)) throw new TypeError("securesocket: secure.certificate must be DER in an ArrayBuffer");
  if (secure.protocolVersion !== undefined && !(secure.protocolVersion <= maxProtocolVersion)) throw new Error("SSL: protocolVersion: not supported");
  // ssl_session.js takes serverName whenever the key exists; its ClientHello then reads `.length`.
  if ("serverName" in secure && typeof secure.serverName !== "string") throw new TypeError("securesocket: secure.serverName must be a string");
  if (secure.verify === false) throw new Error("securesocket fake: only verified TLS is bridged");
  const certificate = base64urlEncode(new Uint8Array(secure.certificate));
  const validity = askHost<{ notBefore: number; notAfter: number } | null>({ op: "certificate-validity", certificate });
  if (!validity) throw new TypeError("securesocket: secure.certificate is not a DER X.509 certificate");
  const now = Date.now();
  if (!(validity.notBefore < now && now < validity.notAfter)) throw new Error("date validation failed");
  return { certificate, serverName: secure.serverName as string | undefined, cache: secure.cache !== false };
}
